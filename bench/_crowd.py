"""Reading the crowd truth-inference datasets (`answer.csv`, `truth.csv`) for the benchmarks.

Item and worker ids stay opaque strings (in Product the item id gives the truth away).
Duplicate answers by one worker on one item count once (the first is kept), as the
service accepts one answer per photo and contributor.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from api.consensus.aggregation import PhotoState, consensus
from api.consensus.em import Reestimate, VoteRecord, reestimate
from api.consensus.evidence import ChooseAnswer, Evidence, evidence_of


class DatasetError(Exception):
    """A dataset directory that cannot be read; the message says what is wrong."""


@dataclass(frozen=True)
class CrowdData:
    answers: list[tuple[str, str, str]]  # (item, worker, label), file order, deduplicated
    truth: dict[str, str]
    labels: tuple[str, ...]  # the closed label set the answers use

    def evidence(self, label: str) -> Evidence:
        """One crowd answer as the engine sees it: a CHOOSE over all labels, no NONE."""
        return evidence_of(ChooseAnswer(self.labels, label, none_allowed=False))


def _rows(path: Path, columns: tuple[str, ...]) -> list[list[str]]:
    if not path.is_file():
        raise DatasetError(f"{path} not found (expected a CSV with header {','.join(columns)})")
    with path.open(newline="", encoding="utf-8") as handle:  # newline="" reads CRLF too
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        if tuple(header[: len(columns)]) != columns:
            raise DatasetError(f"{path}: header {header} is not {','.join(columns)}")
        return [[cell.strip() for cell in row] for row in reader if row]


def read_crowd(directory: Path) -> CrowdData:
    """Read `answer.csv` and `truth.csv` from `directory`."""
    if not directory.is_dir():
        raise DatasetError(f"dataset directory {directory} does not exist")
    answers: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for item, worker, label, *_ in _rows(
        directory / "answer.csv", ("question", "worker", "answer")
    ):
        if (item, worker) not in seen:
            seen.add((item, worker))
            answers.append((item, worker, label))
    truth_rows = _rows(directory / "truth.csv", ("question", "truth"))
    truth = {row[0]: row[1] for row in truth_rows}
    if not answers:
        raise DatasetError(f"{directory / 'answer.csv'} has no answers")
    labels = tuple(sorted({label for _, _, label in answers}))
    return CrowdData(answers, truth, labels)


def answers_by_item(data: CrowdData) -> dict[str, list[tuple[str, str]]]:
    """Each item's (worker, label) answers, in file order."""
    per_item: dict[str, list[tuple[str, str]]] = {}
    for item, worker, label in data.answers:
        per_item.setdefault(item, []).append((worker, label))
    return per_item


def fit(data: CrowdData, *, known: Reestimate | None = None) -> Reestimate:
    """One full re-estimation (EM to convergence) over every answer in `data`; with `known`,
    the posteriors under those reliabilities instead, unchanged (no EM step)."""
    records = [
        VoteRecord(item, worker, vote)
        for item, worker, label in data.answers
        for vote in data.evidence(label).votes
    ]
    if known is None:
        return reestimate(records)
    return reestimate(
        records,
        given=known.contributors,
        given_prior=known.label_prior,
        given_pattern=known.pattern,
        max_iterations=0,
    )


def labels_of(result: Reestimate) -> dict[str, str | None]:
    """Each item's consensus label in a re-estimation's result."""
    return {
        item: consensus(PhotoState(log_odds=log_odds), result.label_prior).label
        for item, log_odds in result.log_odds.items()
    }


def batch_labels(data: CrowdData) -> dict[str, str | None]:
    """Each item's label from one full re-estimation (EM to convergence) over every answer."""
    return labels_of(fit(data))


def accuracy(predicted: dict[str, str | None], truth: dict[str, str]) -> float:
    """Share of items with truth whose predicted label equals it (unanswered count wrong)."""
    return sum(predicted.get(item) == label for item, label in truth.items()) / len(truth)


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


Results = dict[str, float | int]


def run_command(description: str, run: Callable[[Path, int], Results], *, setting: str) -> None:
    """The command line both crowd benchmarks share: parse, run, print a table, write JSON."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("dataset", type=Path, help="folder with answer.csv and truth.csv")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        results = run(args.dataset, args.seed)
    except DatasetError as error:
        fail(str(error))
    print(f"dataset {args.dataset}  seed {args.seed}  {setting}")
    print(f"{'metric':<28}{'value':>10}")
    for key, value in results.items():
        shown = f"{value:.4f}" if isinstance(value, float) and key != "seconds" else str(value)
        print(f"{key:<28}{shown:>10}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
