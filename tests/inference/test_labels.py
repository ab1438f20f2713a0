"""Labels files: formats, ids, duplicates, where they are found."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from inference_testkit import tiny_model, without_opening_fifo

from inference import InvalidLabelsError, Label, LabelsNotFoundError
from inference.labels import find_labels, packed_labels_text, parse_labels


def test_tab_lines_keep_id_and_name_apart() -> None:
    labels = parse_labels("n01440764\ttench\nn02012849\tcrane\n")
    assert labels == (Label("n01440764", "tench"), Label("n02012849", "crane"))


def test_wordnet_id_then_space_is_an_id() -> None:
    labels = parse_labels("n01440764 tench, Tinca tinca\n")
    assert labels == (Label("n01440764", "tench, Tinca tinca"),)


def test_plain_names_are_their_own_ids_even_with_spaces() -> None:
    assert parse_labels("golden retriever\nred fox\n") == (
        Label("golden retriever", "golden retriever"),
        Label("red fox", "red fox"),
    )


def test_duplicate_plain_names_get_their_index_in_the_id() -> None:
    labels = parse_labels("tench\ncrane\nstork\ncrane\n")
    assert [label.id for label in labels] == ["tench", "crane#1", "stork", "crane#3"]
    assert [label.name for label in labels] == ["tench", "crane", "stork", "crane"]


def test_duplicate_names_with_distinct_ids_are_fine() -> None:
    labels = parse_labels("n02012849\tcrane\nn03126707\tcrane\n")
    assert [label.id for label in labels] == ["n02012849", "n03126707"]


def test_duplicate_explicit_ids_are_refused() -> None:
    with pytest.raises(InvalidLabelsError, match="ids must be unique"):
        parse_labels("c1\tcat\nc1\tdog\n")


def test_derived_id_colliding_with_explicit_id_is_refused() -> None:
    with pytest.raises(InvalidLabelsError, match="'cat'"):
        parse_labels("cat\tdog\ncat\n")


def test_trailing_blank_lines_and_bom_are_ignored_but_inner_blank_lines_are_not() -> None:
    assert len(parse_labels("\ufeffa\nb\n\n\n")) == 2
    with pytest.raises(InvalidLabelsError, match="line 2 is blank"):
        parse_labels("a\n\nb\n")


@pytest.mark.parametrize("text", ["", "\n\n", "id\t\n", "\tname\n", "two words\tname\n"])
def test_malformed_files_are_refused(text: str) -> None:
    with pytest.raises(InvalidLabelsError):
        parse_labels(text)


def test_packed_labels_are_read_from_the_model_bytes() -> None:
    data = tiny_model("packed_labels").read_bytes()
    assert packed_labels_text(data) == ("labels.txt", "red\ngreen\nblue\ndark\n")
    assert packed_labels_text(tiny_model("float_logits").read_bytes()) is None


def test_sidecar_wins_over_packed_labels_and_argument_wins_over_both(tmp_path: Path) -> None:
    model = tmp_path / "m.tflite"
    shutil.copy(tiny_model("packed_labels"), model)
    data = model.read_bytes()
    assert find_labels(model, data)[1] == "metadata:labels.txt"
    (tmp_path / "m.labels.txt").write_text("a\nb\nc\nd\n")
    assert find_labels(model, data)[0][0] == Label("a", "a")
    other = tmp_path / "other.txt"
    other.write_text("w\nx\ny\nz\n")
    assert find_labels(model, data, other) == (parse_labels("w\nx\ny\nz\n"), str(other))


def test_no_labels_anywhere_names_the_places_looked(tmp_path: Path) -> None:
    model = tmp_path / "m.tflite"
    shutil.copy(tiny_model("float_logits"), model)
    with pytest.raises(LabelsNotFoundError, match=r"m\.labels\.txt"):
        find_labels(model, model.read_bytes())


@pytest.mark.parametrize(("make", "kind"), [(os.mkdir, "a folder"), (os.mkfifo, "a FIFO")])
def test_a_labels_sidecar_that_is_not_a_regular_file_is_refused_not_passed_over(
    tmp_path: Path, make: Callable[[Path], None], kind: str
) -> None:
    model = tmp_path / "m.tflite"
    shutil.copy(tiny_model("packed_labels"), model)  # labels packed in it: not what is used
    sidecar = tmp_path / "m.labels.txt"
    make(sidecar)
    for given in (None, sidecar):
        with pytest.raises(InvalidLabelsError) as caught:
            without_opening_fifo(sidecar, partial(find_labels, model, model.read_bytes(), given))
        assert str(caught.value) == (
            f"cannot read labels file {str(sidecar)!r}: it is {kind}, not a regular file"
        )


def test_unreadable_labels_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InvalidLabelsError, match="cannot read"):
        find_labels(tmp_path / "m.tflite", b"", bad)


def test_a_control_character_in_a_label_is_refused_with_its_line() -> None:
    with pytest.raises(InvalidLabelsError, match=r"line 2 holds the character '\\x00'"):
        parse_labels("cat\nr\x00ed\n")
    assert parse_labels("n1\tcat\n")[0].name == "cat"  # a tab separates id and name


def test_a_line_too_long_to_be_a_label_is_refused() -> None:
    with pytest.raises(InvalidLabelsError, match="line 2 is 1,001 characters"):
        parse_labels("cat\n" + "x" * 1001 + "\n")
