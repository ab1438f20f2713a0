"""Class labels: a stable id for the data, a display name for people.

Where labels come from, first match wins:

1. the `labels=` path given to `Model.from_path`;
2. the sidecar `<model stem>.labels.txt` beside the model (`m.tflite` -> `m.labels.txt`);
3. the labels file packed in the model's TFLite metadata (a zip appended to the flatbuffer):
   the `.txt` member whose name contains "label", else the only `.txt` member.

File format: UTF-8, one label per line, in the order of the model's output. Trailing blank
lines are ignored; a blank line in the middle is an error (it would shift every class after
it). Each line is one of:

- `ID<TAB>NAME`: explicit id and display name (`n01440764<TAB>tench`);
- `nXXXXXXXX NAME`: a WordNet id, one space, the name, as in ImageNet's `synset_words.txt`;
- `NAME`: a plain name (typical `labels.txt`); its id is the name itself.

Ids must be unique. A plain name that occurs more than once (ImageNet has two "crane") gets
the id `NAME#INDEX` for every occurrence, INDEX being its output index (`crane#134`,
`crane#517`): deterministic from the file alone, so the same file always yields the same
ids. Explicit ids that repeat, or a derived id that collides with an explicit one, are an
error. Names are kept as written (no underscore or case changes).
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ._files import not_a_regular_file
from .errors import InvalidLabelsError, LabelsNotFoundError

MAX_LINE_LENGTH = 1000

__all__ = ["Label", "find_labels", "packed_labels_text", "parse_labels", "read_labels"]

_WORDNET_LINE = re.compile(r"^(n\d{8}) (\S.*)$")
# Label files are small; refuse a packed member that would inflate past this.
_MAX_LABELS_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Label:
    """One class of a model: `id` is stable and unique, `name` is for display."""

    id: str
    name: str


def _split_line(line: str, number: int) -> tuple[str | None, str]:
    if "\t" in line:
        label_id, _, name = line.partition("\t")
        label_id, name = label_id.strip(), name.strip()
        if not label_id or not name or any(c.isspace() for c in label_id):
            raise InvalidLabelsError(
                f"line {number}: {line!r} is not ID<TAB>NAME with a non-empty id "
                "without spaces and a non-empty name"
            )
        return label_id, name
    match = _WORDNET_LINE.match(line)
    if match:
        return match.group(1), match.group(2).strip()
    return None, line.strip()


def parse_labels(text: str) -> tuple[Label, ...]:
    """Parse labels text (format in the module docstring) into labels in output order."""
    lines = text.removeprefix("\ufeff").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise InvalidLabelsError("the labels file holds no labels")
    parsed = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise InvalidLabelsError(
                f"line {number} is blank; every line up to the last must hold a label"
            )
        if len(line) > MAX_LINE_LENGTH:
            raise InvalidLabelsError(
                f"line {number} is {len(line):,} characters; a label line is at most "
                f"{MAX_LINE_LENGTH:,}"
            )
        control = next(
            (c for c in line if unicodedata.category(c) in ("Cc", "Cs") and c != "\t"), None
        )
        if control is not None:
            raise InvalidLabelsError(
                f"line {number} holds the character {control!r}; labels are printable text"
            )
        parsed.append(_split_line(line, number))
    return _assign_ids(parsed)


def _assign_ids(parsed: list[tuple[str | None, str]]) -> tuple[Label, ...]:
    plain_counts = Counter(name for label_id, name in parsed if label_id is None)
    labels = []
    for index, (label_id, name) in enumerate(parsed):
        if label_id is None:
            label_id = name if plain_counts[name] == 1 else f"{name}#{index}"
        labels.append(Label(id=label_id, name=name))
    seen: dict[str, int] = {}
    for index, label in enumerate(labels):
        if label.id in seen:
            raise InvalidLabelsError(
                f"label id {label.id!r} is used on lines {seen[label.id] + 1} and {index + 1}; "
                "ids must be unique"
            )
        seen[label.id] = index
    return tuple(labels)


def read_labels(path: str | Path) -> tuple[Label, ...]:
    """Read and parse a labels file."""
    try:
        kind = not_a_regular_file(Path(path))
        if kind is not None:
            raise InvalidLabelsError(
                f"cannot read labels file {str(path)!r}: it is {kind}, not a regular file"
            )
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidLabelsError(f"cannot read labels file {str(path)!r}: {exc}") from exc
    try:
        return parse_labels(text)
    except InvalidLabelsError as exc:
        raise InvalidLabelsError(f"{path}: {exc}") from None


def packed_labels_text(model: bytes) -> tuple[str, str] | None:
    """The (member name, text) of the labels file packed in a model's metadata, if any."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(model))
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    with archive:
        texts = [i for i in archive.infolist() if i.filename.lower().endswith(".txt")]
        named = [i for i in texts if "label" in i.filename.lower()]
        chosen = named[:1] or (texts if len(texts) == 1 else [])
        if not chosen:
            return None
        info = chosen[0]
        if info.file_size > _MAX_LABELS_BYTES:
            raise InvalidLabelsError(f"packed labels file {info.filename!r} is too large")
        try:
            return info.filename, archive.read(info).decode("utf-8")
        except (zipfile.BadZipFile, UnicodeDecodeError, OSError) as exc:
            raise InvalidLabelsError(f"cannot read packed labels {info.filename!r}: {exc}") from exc


def sidecar_path(model_path: Path) -> Path:
    """Where the labels of `model_path` are looked for: `<stem>.labels.txt` beside it."""
    return model_path.with_name(f"{model_path.stem}.labels.txt")


def find_labels(
    model_path: Path, model: bytes, labels: str | Path | None = None
) -> tuple[tuple[Label, ...], str]:
    """Labels for a model and where they came from, in the order the module docstring gives."""
    if labels is not None:
        return read_labels(labels), str(labels)
    sidecar = sidecar_path(model_path)
    if sidecar.exists():  # a folder or FIFO there is refused, not passed over
        return read_labels(sidecar), str(sidecar)
    packed = packed_labels_text(model)
    if packed is not None:
        member, text = packed
        try:
            return parse_labels(text), f"metadata:{member}"
        except InvalidLabelsError as exc:
            raise InvalidLabelsError(f"packed {member}: {exc}") from None
    raise LabelsNotFoundError(
        f"no labels for {model_path.name}: pass labels=PATH, put {sidecar.name} beside the "
        "model, or pack a labels file in the model's metadata"
    )
