"""Questions from predictions, and whether an answer fits its question."""

import pytest

from api.survey.questions import (
    Answer,
    LabelRef,
    Question,
    QuestionKind,
    Verdict,
    invalid_reason,
    normalise_tags,
    question_for,
)


def _top(*probabilities: float) -> list[dict[str, object]]:
    return [
        {"label_id": f"n{i}", "name": f"name {i}", "probability": p}
        for i, p in enumerate(probabilities)
    ]


def test_a_confident_model_asks_to_verify_its_top_label() -> None:
    question = question_for(_top(0.7, 0.2, 0.1))
    assert question == Question(QuestionKind.VERIFY, (LabelRef("n0", "name 0"),))


def test_a_hesitant_model_asks_to_choose_among_its_top_five() -> None:
    question = question_for(_top(0.3, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05))
    assert question.kind is QuestionKind.CHOOSE
    assert [label.id for label in question.labels] == ["n0", "n1", "n2", "n3", "n4"]


def test_a_clueless_model_or_none_asks_for_a_description() -> None:
    assert question_for(_top(0.05, 0.04)).kind is QuestionKind.DESCRIBE
    assert question_for([]) == Question(QuestionKind.DESCRIBE, ())


def test_questions_round_trip_through_documents() -> None:
    question = question_for(_top(0.3, 0.2))
    assert Question.from_document(question.to_document()) == question


def test_answers_that_fit() -> None:
    verify = question_for(_top(0.9))
    choose = question_for(_top(0.3, 0.2))
    describe = question_for([])
    assert invalid_reason(verify, Answer(verdict=Verdict.NOT_SURE)) is None
    assert invalid_reason(choose, Answer(choice="n1")) is None
    assert invalid_reason(choose, Answer(none_of_these=True)) is None
    assert invalid_reason(describe, Answer(tags=("dog",))) is None


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Answer(verdict=Verdict.YES), "the question is CHOOSE; the answer is VERIFY"),
        (Answer(tags=("x",)), "the question is CHOOSE; the answer is DESCRIBE"),
        (Answer(choice="n9"), "'n9' is not a candidate"),
    ],
)
def test_answers_that_do_not_fit_say_why(answer: Answer, reason: str) -> None:
    found = invalid_reason(question_for(_top(0.3, 0.2)), answer)
    assert found is not None
    assert reason in found


def test_tags_are_normalised() -> None:
    assert normalise_tags(["  Golden   Retriever ", "golden retriever", "", "Dog"]) == (
        "golden retriever",
        "dog",
    )


def test_tags_are_counted_and_measured_as_sent() -> None:
    describe = question_for([])
    dotted = "\u0130" * 64  # "İ": 64 characters, 128 once lower-cased
    assert invalid_reason(describe, Answer(tags=(dotted,))) is None
    assert Answer(tags=(dotted, "Cat")).to_document() == {"describe": [dotted.lower(), "cat"]}
    assert invalid_reason(describe, Answer(tags=("cat",) * 10000)) == (
        "10000 tags given; at most 20 are accepted"
    )
    assert invalid_reason(describe, Answer(tags=("\u0130" * 65,))) == (
        f"tags are at most 64 characters; {dotted[:20]!r}... is longer"
    )
