"""How far any stopping rule can go on a crowd dataset: the bounds behind the replay's line.

    python bench/replay_bounds.py DATASET_DIR [--json OUT] [--seed N]

- `known_T_*`: every item takes its answers in file order (as in `bench/replay.py`) and
  stops at the service's retirement rule with target T, decided with reliabilities known in
  advance (fitted to every answer): information the replay does not have.
  `known_T_ratio` is the share of answers so kept; `known_T_accuracy` labels them with those
  same reliabilities; `relearned_T_accuracy` labels them with reliabilities learnt from the
  kept answers alone, as the replay must.
- `drop10_loss_*`: the accuracy lost when 10% of all answers are left out at random
  (`DRAWS` seeded draws): how sensitive the dataset is to the amount of data.

Accuracy is against `truth.csv`; `all_answers_accuracy` uses every answer.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent  # see bench/replay.py: `import api` is the package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

from _crowd import (  # noqa: E402
    CrowdData,
    accuracy,
    answers_by_item,
    fit,
    labels_of,
    read_crowd,
    run_command,
)

from api.consensus.aggregation import (  # noqa: E402
    PhotoState,
    answer_update,
    apply_update,
    consensus,
)
from api.consensus.em import Reestimate  # noqa: E402
from api.consensus.reliability import ContributorState, ReliabilityPrior  # noqa: E402
from api.consensus.retirement import (  # noqa: E402
    RetirementPolicy,
    RetirementReason,
    retirement_reason,
)

TARGETS = (0.95, 0.98, 0.99)
DRAWS = 12
DROPPED = 0.1


def stopped_with_known(
    data: CrowdData, known: Reestimate, target: float
) -> list[tuple[str, str, str]]:
    """Each item's answers up to the first that retires it on confidence (or all of them)."""
    policy = RetirementPolicy(target=target, cap=len(data.answers) + 1)
    prior = ReliabilityPrior()  # the one `fit` used
    kept: list[tuple[str, str, str]] = []
    for item, answers in answers_by_item(data).items():
        state = PhotoState()
        for worker, label in answers:
            kept.append((item, worker, label))
            update = answer_update(
                state, known.contributors[worker], data.evidence(label),
                prior=known.label_prior, reliability_prior=prior, pattern=known.pattern,
            )  # fmt: skip
            apply_update(state, ContributorState(), update)  # the known states stay as fitted
            verdict = consensus(state, known.label_prior)
            if retirement_reason(verdict, policy) is RetirementReason.CONFIDENT:
                break
    return kept


def run(directory: Path, seed: int) -> dict[str, float | int]:
    data = read_crowd(directory)
    started = time.perf_counter()
    known = fit(data)
    everything = accuracy(labels_of(known), data.truth)
    results: dict[str, float | int] = {"all_answers_accuracy": everything}
    for target in TARGETS:
        kept = dataclasses.replace(data, answers=stopped_with_known(data, known, target))
        results[f"known_{target}_ratio"] = round(len(kept.answers) / len(data.answers), 4)
        results[f"known_{target}_accuracy"] = accuracy(
            labels_of(fit(kept, known=known)), data.truth
        )
        results[f"relearned_{target}_accuracy"] = accuracy(labels_of(fit(kept)), data.truth)
    rng = random.Random(seed)
    size = round(len(data.answers) * (1 - DROPPED))
    losses = [
        everything
        - accuracy(
            labels_of(fit(dataclasses.replace(data, answers=rng.sample(data.answers, size)))),
            data.truth,
        )
        for _ in range(DRAWS)
    ]
    results["drop10_loss_mean"] = statistics.mean(losses)
    results["drop10_loss_min"] = min(losses)
    results["drop10_loss_max"] = max(losses)
    results["seconds"] = round(time.perf_counter() - started, 2)
    return results


def main() -> None:
    run_command(__doc__.splitlines()[0], run, setting=f"targets {TARGETS}, {DRAWS} draws")


if __name__ == "__main__":
    main()
