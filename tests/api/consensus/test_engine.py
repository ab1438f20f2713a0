from __future__ import annotations

import copy
import random
from statistics import mean

import pytest

from api.consensus.aggregation import posterior_from
from api.consensus.em import Reestimate, VoteRecord, reestimate
from api.consensus.engine import AlreadyAnswered, ConsensusEngine, EngineSettings, reestimate_due
from api.consensus.reliability import Confusion, ContributorState
from api.consensus.retirement import RetirementReason
from tests.api.consensus.builders import closed_answer, simulated_crowd

LABELS = ("a", "b", "c", "d")


def test_one_answer_per_photo_and_contributor() -> None:
    engine = ConsensusEngine()
    engine.submit("p", "ann", closed_answer("cat"))
    with pytest.raises(AlreadyAnswered):
        engine.submit("p", "ann", closed_answer("dog"))
    assert engine.photos["p"].answer_count == 1


def test_reestimation_runs_before_the_answer_that_is_due_never_after_the_last() -> None:
    engine = ConsensusEngine(EngineSettings(reestimate_every=3))
    for i in range(3):
        engine.submit(f"p{i}", "ann", closed_answer("cat"))
    assert engine.label_prior.counts == {}  # three answers in, none re-estimated yet
    engine.submit("p3", "ann", closed_answer("cat"))
    counts = engine.label_prior.counts  # learned from the three photos before "p3"
    assert sum(counts.values()) == pytest.approx(3.0)
    assert counts["cat"] > counts["dog"]


def test_reestimation_is_due_as_answers_double_then_every_fixed_gap() -> None:
    ran = [0]  # answers at each re-estimation, starting from none
    for answers in range(1, 10_000):
        if reestimate_due(answers, ran[-1], every=2000, first=32):
            ran.append(answers)
    assert ran[1:9] == [32, 64, 128, 256, 512, 1024, 2048, 4048]
    assert ran[-1] == 8048


def test_the_engine_reestimates_on_that_schedule() -> None:
    engine = ConsensusEngine(EngineSettings(reestimate_every=100, reestimate_first=4))
    runs = []
    for i in range(40):
        due = engine.reestimate_due()
        engine.submit(f"p{i}", "ann", closed_answer("cat"))
        if due:
            runs.append(i)  # the re-estimation ran before answer i
    assert runs == [4, 8, 16, 32]
    assert sum(engine.label_prior.counts.values()) == pytest.approx(32.0)


def test_simulated_crowd_reaches_the_truth_and_ranks_the_bad_contributors_last() -> None:
    accuracies: dict[str, float | None] = {
        "good1": 0.9, "good2": 0.85, "good3": 0.8, "wrong": None, "random": 0.25,
    }  # fmt: skip
    truth, answers = simulated_crowd(photos=300, accuracies=accuracies, labels=LABELS, seed=1)
    by_photo: dict[str, list[tuple[str, str]]] = {}
    for photo, contributor, label in answers:
        by_photo.setdefault(photo, []).append((contributor, label))
    rng = random.Random(2)
    engine = ConsensusEngine(EngineSettings(reestimate_every=100))
    first_agree: dict[str, bool] = {}
    for photo, queue in by_photo.items():
        rng.shuffle(queue)
        first_agree[photo] = queue[0][1] == queue[1][1]
        for contributor, label in queue:
            engine.submit(photo, contributor, closed_answer(label, LABELS))
            if engine.demand(photo).retired is not None:
                break
    engine.reestimate()
    correct = mean(engine.consensus(p).label == t for p, t in truth.items())
    assert correct >= 0.95
    ranking = sorted(engine.reliabilities().items(), key=lambda item: item[1])
    assert {name for name, _ in ranking[:2]} == {"wrong", "random"}
    used = {p: engine.photos[p].answer_count for p in truth}
    agreeing = mean(used[p] for p in truth if first_agree[p])
    disagreeing = mean(used[p] for p in truth if not first_agree[p])
    assert agreeing < disagreeing
    assert engine.demand(next(iter(truth))).retired in {
        RetirementReason.CONFIDENT,
        RetirementReason.CAP,
        None,
    }


def label_of(result: Reestimate, photo: str) -> str | None:
    return posterior_from(result.log_odds[photo], result.label_prior).top()[0]


def test_a_reestimation_starts_afresh_so_a_swapped_solution_cannot_persist() -> None:
    # Everyone answers right, but the states the engine holds read each of them as mixing
    # up "a" and "b" (as a bad early estimate can): EM continued from those states keeps
    # the swap; the engine's re-estimation starts from majority vote and finds the truth.
    truth = {f"p{i}": "a" if i % 2 else "b" for i in range(20)}
    crowd = ("ann", "bob", "cy")
    never = 10_000  # no automatic re-estimation: the test runs the one it looks at
    engine = ConsensusEngine(EngineSettings(reestimate_every=never, reestimate_first=never))
    for photo, label in truth.items():
        for who in crowd:
            engine.submit(photo, who, closed_answer(label, ("a", "b")))
    swapped: Confusion = {"a": {"a": 2.0, "b": 8.0}, "b": {"a": 8.0, "b": 2.0}}
    engine.contributors = {who: ContributorState(copy.deepcopy(swapped)) for who in crowd}
    records = [
        VoteRecord(photo, who, vote)
        for photo, label in truth.items()
        for who in crowd
        for vote in closed_answer(label, ("a", "b")).votes
    ]
    continued = reestimate(records, given=engine.contributors)
    assert all(label_of(continued, p) != label for p, label in truth.items())
    engine.reestimate()
    assert all(engine.consensus(p).label == label for p, label in truth.items())
    assert min(engine.reliabilities().values()) > 0.85
