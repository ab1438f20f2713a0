"""Aggregation accuracy on a crowd dataset: majority vote, the engine in batch, and online.

    python bench/aggregation.py DATASET_DIR [--json OUT] [--seed N]

- majority vote, ties broken by a seeded random choice;
- batch: one full re-estimation (EM) over every answer;
- online: answers fed one at a time through `ConsensusEngine.submit` (the service's update
  path) in a seeded random order, with a full re-estimation on the service's schedule (each
  time the answers double from `REESTIMATE_FIRST`, then every `REESTIMATE_EVERY` answers)
  that also rescores the stored consensus, and none after the last answer; then the same in
  file order (the files are sorted by worker or by item, not by arrival).
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

# bench/api.py sits next to this file: with this folder first on sys.path, `import api`
# would find that script instead of the service's package. Search the folder last.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

from _crowd import CrowdData, accuracy, batch_labels, read_crowd, run_command  # noqa: E402

from api.consensus.aggregation import PhotoState, majority  # noqa: E402
from api.consensus.engine import (  # noqa: E402
    REESTIMATE_EVERY,
    REESTIMATE_FIRST,
    ConsensusEngine,
)


def majority_accuracy(data: CrowdData, seed: int) -> float:
    photos: dict[str, PhotoState] = {}
    for item, _, label in data.answers:
        tally = photos.setdefault(item, PhotoState()).tally
        tally[label] = tally.get(label, 0.0) + 1.0
    rng = random.Random(seed)
    predicted = {item: majority(state, rng).label for item, state in sorted(photos.items())}
    return accuracy(predicted, data.truth)


def online_accuracy(data: CrowdData, order: list[int]) -> float:
    engine = ConsensusEngine()
    for index in order:
        item, worker, label = data.answers[index]
        engine.submit(item, worker, data.evidence(label))
    return accuracy({item: engine.consensus(item).label for item in engine.photos}, data.truth)


def run(directory: Path, seed: int) -> dict[str, float | int]:
    data = read_crowd(directory)
    started = time.perf_counter()
    order = list(range(len(data.answers)))
    shuffled = order[:]
    random.Random(seed).shuffle(shuffled)
    results: dict[str, float | int] = {
        "mv_accuracy": majority_accuracy(data, seed),
        "batch_accuracy": accuracy(batch_labels(data), data.truth),
        "online_accuracy": online_accuracy(data, shuffled),
        "online_accuracy_file_order": online_accuracy(data, order),
        "reestimate_every": REESTIMATE_EVERY,
        "n_items": len({item for item, _, _ in data.answers}),
        "n_answers": len(data.answers),
    }
    results["seconds"] = round(time.perf_counter() - started, 2)
    return results


def main() -> None:
    schedule = f"re-estimation as answers double from {REESTIMATE_FIRST}, then every"
    run_command(__doc__.splitlines()[0], run, setting=f"{schedule} {REESTIMATE_EVERY} answers")


if __name__ == "__main__":
    main()
