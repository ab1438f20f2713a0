"""The question a task asks about a photo, chosen from the model's prediction.

- ``VERIFY`` when the model is fairly sure (top probability >= `VERIFY_FROM`): "Does this
  photo show <label>?" YES / NO / NOT_SURE; one cheap tap confirms or refutes it.
- ``CHOOSE`` when it hesitates between a few labels: pick one of the top `CANDIDATES`, or
  none of them.
- ``DESCRIBE`` when it has no useful idea (top probability < `DESCRIBE_BELOW`): free tags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from api.text import UNSAFE, shows_something, unsafe_character

VERIFY_FROM = 0.5
DESCRIBE_BELOW = 0.1
CANDIDATES = 5
MAX_TAGS = 20
MAX_TAG_LENGTH = 64


class QuestionKind(Enum):
    VERIFY = "VERIFY"
    CHOOSE = "CHOOSE"
    DESCRIBE = "DESCRIBE"


class Verdict(Enum):
    YES = "YES"
    NO = "NO"
    NOT_SURE = "NOT_SURE"


@dataclass(frozen=True)
class LabelRef:
    id: str
    name: str


@dataclass(frozen=True)
class Question:
    kind: QuestionKind
    labels: tuple[LabelRef, ...]
    """VERIFY: the one label asked about; CHOOSE: the candidates; DESCRIBE: none."""

    def to_document(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "labels": [{"id": label.id, "name": label.name} for label in self.labels],
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Question:
        labels = tuple(LabelRef(id=label["id"], name=label["name"]) for label in doc["labels"])
        return cls(kind=QuestionKind(doc["kind"]), labels=labels)


def question_for(top_k: Sequence[Mapping[str, Any]]) -> Question:
    """The question to ask, given the prediction's top-k (``label_id``, ``name``,
    ``probability``), highest first."""
    if not top_k or top_k[0]["probability"] < DESCRIBE_BELOW:
        return Question(QuestionKind.DESCRIBE, ())
    refs = tuple(LabelRef(id=s["label_id"], name=s["name"]) for s in top_k[:CANDIDATES])
    if top_k[0]["probability"] >= VERIFY_FROM:
        return Question(QuestionKind.VERIFY, refs[:1])
    return Question(QuestionKind.CHOOSE, refs)


@dataclass(frozen=True)
class Answer:
    """One contributor's answer; exactly one field is set, matching the question kind."""

    verdict: Verdict | None = None
    choice: str | None = None
    """CHOOSE: a candidate's label id; None with `none_of_these`."""
    none_of_these: bool = False
    tags: tuple[str, ...] = ()
    """DESCRIBE: the tags as sent, checked as sent; stored normalised (`normalise_tags`)."""

    def to_document(self) -> dict[str, Any]:
        if self.verdict is not None:
            return {"verify": self.verdict.value}
        if self.choice is not None or self.none_of_these:
            return {"choose": self.choice}
        return {"describe": list(normalise_tags(self.tags))}


def normalise_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """Trimmed, lower-cased, de-duplicated tags in their first order; tags that show nothing
    (empty, or only spaces, zero-width characters and lone combining marks) dropped."""
    seen: dict[str, None] = {}
    for tag in tags:
        cleaned = " ".join(tag.split()).lower()
        if shows_something(cleaned):
            seen.setdefault(cleaned, None)
    return tuple(seen)


def invalid_reason(question: Question, answer: Answer) -> str | None:
    """Why `answer` does not fit `question`, or None when it does."""
    given = _kind_of(answer)
    if given is not question.kind:
        return f"the question is {question.kind.value}; the answer is {given.value}"
    if given is QuestionKind.CHOOSE and answer.choice is not None:
        ids = [label.id for label in question.labels]
        if answer.choice not in ids:
            return f"labelId {answer.choice!r} is not a candidate; expected one of {ids} or none"
    if given is QuestionKind.DESCRIBE:
        return _tags_problem(answer.tags)
    return None


def _kind_of(answer: Answer) -> QuestionKind:
    if answer.verdict is not None:
        return QuestionKind.VERIFY
    if answer.choice is not None or answer.none_of_these:
        return QuestionKind.CHOOSE
    return QuestionKind.DESCRIBE


def _tags_problem(sent: Sequence[str]) -> str | None:
    # Counted and measured as sent: de-duplication would let any number through, and
    # lower-casing lengthens some tags ("İ" becomes two characters).
    if len(sent) > MAX_TAGS:
        return f"{len(sent)} tags given; at most {MAX_TAGS} are accepted"
    long = [tag for tag in sent if len(tag) > MAX_TAG_LENGTH]
    if long:
        return f"tags are at most {MAX_TAG_LENGTH} characters; {long[0][:20]!r}... is longer"
    tags = normalise_tags(sent)
    if not tags:
        return "give at least one non-empty tag"
    unsafe = [tag for tag in tags if unsafe_character(tag) is not None]
    if unsafe:
        return f"tags must not contain {UNSAFE}; {unsafe[0][:20]!r} does"
    return None
