"""Replay a crowd dataset through the engine's selection and retirement.

    python bench/replay.py DATASET_DIR [--json OUT] [--seed N]

Every item starts unlabelled. Whenever the engine asks for an answer on an item, it gets
that item's next unused real answer (file order). The engine asks until every item has
retired or has no answers left. Reliabilities come only from answers already given; the
answer cap is set above the most answers any item has, so only confidence retires items.
Compared with "use every answer" under the same aggregator (one full re-estimation over
all answers); the adaptive run re-estimates on the service's schedule (`reestimate_due`)
and ends with one full re-estimation too, as the service runs them periodically, and items
it reopens get more answers.

Selection is the service's: started photos first, fewest answers still needed first
(`Demand.priority`), with `EXPLORATION` of the asks going to a random new photo.

`even_accuracy` is what the adaptive choice is measured against at the same cost: as many
answers as the replay used, spread evenly over the items (`even_share`), aggregated like
all answers.
"""

from __future__ import annotations

import dataclasses
import heapq
import random
import sys
import time
from collections import deque
from pathlib import Path

# bench/api.py sits next to this file: with this folder first on sys.path, `import api`
# would find that script instead of the service's package. Search the folder last.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

from _crowd import (  # noqa: E402
    CrowdData,
    accuracy,
    answers_by_item,
    batch_labels,
    read_crowd,
    run_command,
)

from api.consensus.engine import ConsensusEngine, EngineSettings  # noqa: E402
from api.consensus.retirement import Demand, RetirementPolicy  # noqa: E402
from api.settings import Settings  # noqa: E402

EXPLORATION = Settings().exploration  # the service's default share of random asks


class Replay:
    """The engine, the unused answers per item, and the order in which items are asked."""

    def __init__(self, data: CrowdData, seed: int) -> None:
        self.data = data
        self.rng = random.Random(seed)
        self.queues = {item: deque(answers) for item, answers in answers_by_item(data).items()}
        cap = max(len(queue) for queue in self.queues.values()) + 1
        self.engine = ConsensusEngine(EngineSettings(policy=RetirementPolicy(cap=cap)))
        self.fresh = list(self.queues)
        self.rng.shuffle(self.fresh)
        self.started: list[tuple[float, int, str]] = []  # heap of (-priority, tiebreak, item)
        self.used = 0
        self.typical = self.engine.typical_accuracy()

    def _open_demand(self, item: str) -> Demand | None:
        """The item's demand while it wants (and has) more answers; None once it is done."""
        demand = self.engine.demand(item, typical_accuracy=self.typical)
        wants = demand.retired is None and demand.answers_still_needed > 0
        return demand if wants and self.queues[item] else None

    def _wants_more(self, item: str) -> bool:
        return self._open_demand(item) is not None

    def _push_if_open(self, item: str) -> None:
        demand = self._open_demand(item)
        if demand is not None:
            heapq.heappush(self.started, (-demand.priority, self.rng.randrange(1 << 30), item))

    def _next_started(self) -> str | None:
        while self.started:
            _, _, item = heapq.heappop(self.started)
            if self._wants_more(item):
                return item
        return None

    def _next_fresh(self) -> str | None:
        while self.fresh:
            item = self.fresh.pop()
            if self._wants_more(item):
                return item
        return None

    def _next_item(self) -> str | None:
        """A started item first; a fresh one on an exploring ask, or once none is started."""
        if self.rng.random() < EXPLORATION:
            return self._next_fresh() or self._next_started()
        return self._next_started() or self._next_fresh()

    def _reestimate(self) -> None:
        self.engine.reestimate()
        self.typical = self.engine.typical_accuracy()
        self.started = []
        for item in self.engine.photos:  # rescored: some retired photos may reopen
            self._push_if_open(item)

    def run(self) -> None:
        while True:
            item = self._next_item()
            if item is None:
                self._reestimate()  # the periodic re-estimation may reopen photos
                if not self.started:
                    return
                continue
            if self.engine.reestimate_due():
                self._reestimate()  # before the answer, as the engine would
                if not self._wants_more(item):
                    continue
            worker, label = self.queues[item].popleft()
            self.engine.submit(item, worker, self.data.evidence(label))
            self.used += 1
            self._push_if_open(item)

    def predictions(self) -> dict[str, str | None]:
        return {item: self.engine.consensus(item).label for item in self.queues}


def even_share(data: CrowdData, budget: int, seed: int) -> list[tuple[str, str, str]]:
    """`budget` answers spread evenly: every item's first answer (file order, as the replay
    takes them), then every item's second, and so on; each round visits the items in a
    seeded random order, which decides who gets the last, partial round."""
    rng = random.Random(seed)
    per_item = answers_by_item(data)
    items, chosen, round_ = list(per_item), [], 0
    while len(chosen) < min(budget, len(data.answers)):
        rng.shuffle(items)
        chosen += [
            (item, *per_item[item][round_]) for item in items if round_ < len(per_item[item])
        ]
        round_ += 1
    return chosen[:budget]


def run(directory: Path, seed: int) -> dict[str, float | int]:
    data = read_crowd(directory)
    started = time.perf_counter()
    replay = Replay(data, seed)
    replay.run()
    results: dict[str, float | int] = {
        "all_answers_accuracy": accuracy(batch_labels(data), data.truth),
        "all_answers_used": len(data.answers),
        "adaptive_accuracy": accuracy(replay.predictions(), data.truth),
        "adaptive_answers_used": replay.used,
        "answers_ratio": round(replay.used / len(data.answers), 4),
    }
    even = dataclasses.replace(data, answers=even_share(data, replay.used, seed))
    results["even_accuracy"] = accuracy(batch_labels(even), data.truth)
    results["seconds"] = round(time.perf_counter() - started, 2)
    return results


def main() -> None:
    run_command(__doc__.splitlines()[0], run, setting=f"exploration {EXPLORATION}")


if __name__ == "__main__":
    main()
