"""The survey API under load, at a small and a large pool, through HTTP.

    .venv/bin/python bench/api.py [--json OUT] [--seconds S] [--concurrency C]
        [--small N] [--large N] [--warmup W] [--timeout T] [--seed N]

For each pool size N (small, then large, in one run): a fresh embedded database in a
temporary folder; N open photos with synthetic predictions loaded straight into it in the
queue state the service computes (see `_service`); 3 x C contributors; the real
``photosurvey serve`` process on a free loopback port. Then C simulated contributors, each
with its own loop on one shared ``httpx.AsyncClient``, repeat ``nextTasks(count: 5)`` and a
``submitAnswer`` (valid answer, fresh idempotency key) for every task, taking turns among
their three contributors, for W seconds of warm-up and S measured seconds; no call starts
after that. Latencies are those of the calls that end (answered or given up) after the
warm-up; throughput counts the requests answered inside the measured window. A request not
answered within T seconds is given up, counted as an error and kept at T in the
latencies (a lower bound, marked * in the table), so the run ends in bounded time however
slow the service is. Reported per N: GraphQL requests per
second and latency percentiles per operation, errors (any GraphQL error, HTTP failure,
timeout or non-``AnswerAccepted`` result) and answers stored. ``next_tasks_p50_ratio`` is the large
pool's nextTasks median over the small pool's (issue 4 asks for <= 1.5). Client, service
and database share the machine, so absolute numbers include the client's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

# This file is bench/api.py: with its folder first on sys.path, `import api` would find this
# file instead of the service's package. Search the folder last.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

from _service import (  # noqa: E402
    Service,
    add_contributors,
    load_pool,
    service_environ,
)

from api.database import connect  # noqa: E402
from api.embedded import EmbeddedDatabase, free_port  # noqa: E402
from api.settings import Settings  # noqa: E402
from api.survey.operations import NEXT_TASKS, SUBMIT  # noqa: E402

DB_NAME = "bench"
SIZES = ("small", "large")
TASKS_PER_CALL = 5
MAX_TASKS = 20
CONTRIBUTORS_PER_LOOP = 3
# The busy contributor: so many photos answered and left open, then so many nextTasks
# calls of theirs, each beside one of a fresh contributor.
BUSY_ANSWERS = 500
BUSY_ROUNDS = 40


@dataclass(frozen=True)
class BenchSettings:
    seconds: float
    warmup: float
    concurrency: int
    timeout: float
    small: int
    large: int
    seed: int


@dataclass
class Calls:
    """What the calls that end inside the measured window took, and every failure seen.

    A call ends when it is answered or given up at the timeout; one given up is kept at the
    time it was given (its true latency is at least that), so that a service too slow to
    answer shows as slow rather than vanishing. Calls that end during the warm-up are left
    out; no call starts after the window, so every call ends within one timeout of it."""

    start: float
    end: float
    latencies: dict[str, list[float]] = field(
        default_factory=lambda: {"nextTasks": [], "submitAnswer": []}
    )
    completed_in_window: int = 0
    timeouts: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    short: int = 0

    def record(self, operation: str, started: float, finished: float, *, answered: bool) -> None:
        if finished >= self.start:
            self.latencies[operation].append((finished - started) * 1000)
            self.completed_in_window += answered and finished <= self.end
            self.timeouts[operation] += not answered

    def fail(self, operation: str, what: str) -> None:
        self.errors[f"{operation}: {what}"] += 1


# --- the simulated contributors --------------------------------------------------------


async def call(
    http: httpx.AsyncClient,
    calls: Calls,
    operation: str,
    *,
    query: str,
    token: str,
    variables: dict[str, Any],
) -> Any:
    """One GraphQL request; returns its ``data`` field, or None after counting an error."""
    started = time.perf_counter()
    try:
        response = await http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
    except httpx.TimeoutException:
        calls.record(operation, started, time.perf_counter(), answered=False)
        calls.fail(operation, "timed out")
        return None
    except httpx.HTTPError as exc:
        calls.fail(operation, type(exc).__name__)
        return None
    finished = time.perf_counter()
    body = response.json() if response.status_code == 200 else {}
    if response.status_code != 200 or body.get("errors"):
        calls.fail(
            operation, body.get("errors", [{}])[0].get("message", f"HTTP {response.status_code}")
        )
        return None
    calls.record(operation, started, finished, answered=True)
    return body["data"][operation]


def answer_for(task: dict[str, Any]) -> dict[str, Any]:
    """A valid answer to the task's question."""
    question = task["question"]
    if question["kind"] == "VERIFY":
        return {"verify": "YES"}
    if question["kind"] == "CHOOSE":
        return {"choose": {"labelId": question["labels"][0]["id"]}}
    return {"describe": {"tags": ["something"]}}


async def contributor_loop(http: httpx.AsyncClient, calls: Calls, tokens: list[str]) -> None:
    """nextTasks then an answer to each task, taking turns among `tokens`, until the end."""
    for token in itertools.cycle(tokens):
        if time.perf_counter() >= calls.end:
            return
        tasks = await call(
            http,
            calls,
            "nextTasks",
            query=NEXT_TASKS,
            token=token,
            variables={"count": TASKS_PER_CALL},
        )
        if tasks is None:
            continue
        calls.short += len(tasks) < TASKS_PER_CALL
        for task in tasks:
            if time.perf_counter() >= calls.end:
                return
            await submit(http, calls, token, task)


async def submit(http: httpx.AsyncClient, calls: Calls, token: str, task: dict[str, Any]) -> None:
    given = {
        "leaseId": task["leaseId"],
        "answer": answer_for(task),
        "idempotencyKey": uuid.uuid4().hex,
    }
    result = await call(
        http, calls, "submitAnswer", query=SUBMIT, token=token, variables={"input": given}
    )
    if result is not None and result["__typename"] != "AnswerAccepted":
        calls.fail("submitAnswer", result["__typename"])


async def drive(base_url: str, tokens: list[str], settings: BenchSettings) -> Calls:
    """Run the contributors through warm-up and the measured window."""
    start = time.perf_counter() + settings.warmup
    calls = Calls(start=start, end=start + settings.seconds)
    limits = httpx.Limits(
        max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
    )
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=settings.timeout
    ) as http:
        loops = settings.concurrency
        await asyncio.gather(
            *(contributor_loop(http, calls, tokens[i::loops]) for i in range(loops))
        )
    return calls


# --- a busy contributor against fresh ones ---------------------------------------------

RELEASE = "mutation($id: ID!) { releaseTask(leaseId: $id) { __typename } }"


async def make_busy(http: httpx.AsyncClient, token: str, *, answers: int) -> int:
    """Have one contributor answer `answers` photos, the most needed: each then waits, open,
    at the top of the queue for others' answers. Returns how many it answered."""
    calls = Calls(start=0.0, end=math.inf)
    answered = 0
    while answered < answers:
        count = min(MAX_TASKS, answers - answered)
        tasks = await call(http, calls, "nextTasks", query=NEXT_TASKS, token=token,
                           variables={"count": count})  # fmt: skip
        if not tasks:
            break
        for task in tasks:
            await submit(http, calls, token, task)
        answered += len(tasks)
    return answered


async def busy_against_fresh(
    base_url: str, busy: str, fresh: list[str], *, seconds_per_call: float
) -> dict[str, Any]:
    """nextTasks of the busy contributor and of fresh ones, one after the other (each call's
    tasks released after it), with nothing else running: side by side in one run."""
    calls = {"busy": Calls(start=0.0, end=math.inf), "fresh": Calls(start=0.0, end=math.inf)}
    async with httpx.AsyncClient(base_url=base_url, timeout=seconds_per_call) as http:
        answered = await make_busy(http, busy, answers=BUSY_ANSWERS)
        for token in fresh:
            for who, caller in (("busy", busy), ("fresh", token)):
                tasks = await call(http, calls[who], "nextTasks", query=NEXT_TASKS,
                                   token=caller, variables={"count": TASKS_PER_CALL})  # fmt: skip
                for task in tasks or []:
                    await http.post("/graphql", json={"query": RELEASE,
                                    "variables": {"id": task["leaseId"]}},
                                    headers={"Authorization": f"Bearer {caller}"})  # fmt: skip
    busy_p50, _ = percentiles(calls["busy"].latencies["nextTasks"])
    fresh_p50, _ = percentiles(calls["fresh"].latencies["nextTasks"])
    return {
        "answered_open": answered,
        "rounds": len(fresh),
        "busy_next_tasks_p50_ms": busy_p50,
        "fresh_next_tasks_p50_ms": fresh_p50,
        "busy_p50_ratio": ratio(busy_p50, fresh_p50),
        "errors": sum(sum(c.errors.values()) for c in calls.values()),
    }


# --- one pool --------------------------------------------------------------------------


async def bench_pool(
    uri: str, size: int, settings: BenchSettings, *, folder: Path
) -> dict[str, Any]:
    """Load the pool, serve it, drive it; the summary of the measured window."""
    port = free_port()
    environ = service_environ(mongodb_uri=uri, db_name=DB_NAME, port=port, data_dir=folder)
    # The settings the service process will read: the pool is opened under the same policy.
    service_config = Settings.from_environ(environ)
    client = connect(uri)
    try:
        db = client[DB_NAME]
        started = time.perf_counter()
        depth = await load_pool(db, size, settings=service_config, seed=settings.seed)
        tokens = await add_contributors(
            db, CONTRIBUTORS_PER_LOOP * settings.concurrency + 1 + BUSY_ROUNDS
        )
        busy, fresh = tokens[-1 - BUSY_ROUNDS], tokens[-BUSY_ROUNDS:]
        tokens = tokens[: -1 - BUSY_ROUNDS]
        load_seconds = time.perf_counter() - started
        service = Service.start(environ, log_path=folder / "service.log")
        try:
            await service.wait_until_ready()
            busy_result = await busy_against_fresh(
                service.base_url, busy, fresh, seconds_per_call=settings.timeout
            )
            calls = await drive(service.base_url, tokens, settings)
        finally:
            await asyncio.to_thread(service.stop)
        answers = await db.answers.count_documents({})
    finally:
        await client.close()
    summary = summarise(calls, seconds=settings.seconds)
    return summary | {
        "busy": busy_result,
        "answers_stored": answers,
        "queue_depth_at_start": depth,
        "load_seconds": round(load_seconds, 1),
    }


def run_pool(size: int, settings: BenchSettings) -> dict[str, Any]:
    """`bench_pool` on a fresh embedded database in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="photosurvey-bench-") as tmp:
        folder = Path(tmp)
        # Started on the main thread: the database dies with the thread that spawned it.
        database = EmbeddedDatabase.start(folder / "db")
        try:
            database.wait_until_ready()
            return asyncio.run(bench_pool(database.uri, size, settings, folder=folder))
        finally:
            database.stop()


# --- the report ------------------------------------------------------------------------


def percentiles(values: list[float]) -> tuple[float | None, float | None]:
    """p50 and p99 in ms, rounded; None when there are too few values."""
    if len(values) < 2:
        return None, None
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return round(cuts[49], 2), round(cuts[98], 2)


def summarise(calls: Calls, *, seconds: float) -> dict[str, Any]:
    next_p50, next_p99 = percentiles(calls.latencies["nextTasks"])
    submit_p50, submit_p99 = percentiles(calls.latencies["submitAnswer"])
    return {
        "throughput_rps": round(calls.completed_in_window / seconds, 1),
        "next_tasks_p50_ms": next_p50,
        "next_tasks_p99_ms": next_p99,
        "submit_p50_ms": submit_p50,
        "submit_p99_ms": submit_p99,
        "next_tasks_calls": len(calls.latencies["nextTasks"]),
        "submit_calls": len(calls.latencies["submitAnswer"]),
        "short_next_tasks": calls.short,
        "next_tasks_timeouts": calls.timeouts["nextTasks"],
        "submit_timeouts": calls.timeouts["submitAnswer"],
        "errors": sum(calls.errors.values()),
        "error_kinds": dict(calls.errors),
    }


def ratio(large: float | None, small: float | None) -> float | None:
    return None if large is None or not small else round(large / small, 2)


def table(results: dict[str, Any], settings: BenchSettings) -> str:
    """The markdown table; a latency marked * includes calls cut at the timeout, so it is a
    lower bound."""
    lines = [
        "| photos | req/s | nextTasks p50 | nextTasks p99 | submitAnswer p50 | submitAnswer p99 "
        "| calls (next / submit) | errors | answers stored |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, size in (("small", settings.small), ("large", settings.large)):
        r = results[key]
        next_mark = "*" if r["next_tasks_timeouts"] else ""
        submit_mark = "*" if r["submit_timeouts"] else ""
        cells = [
            f"{size:,}",
            f"{r['throughput_rps']}",
            *(f"{_ms(r[k])}{next_mark}" for k in ("next_tasks_p50_ms", "next_tasks_p99_ms")),
            *(f"{_ms(r[k])}{submit_mark}" for k in ("submit_p50_ms", "submit_p99_ms")),
            f"{r['next_tasks_calls']} / {r['submit_calls']}",
            f"{r['errors']}",
            f"{r['answers_stored']:,}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def busy_table(results: dict[str, Any], settings: BenchSettings) -> str:
    """The busy contributor (photos answered and still open) against fresh ones."""
    lines = [
        "\n| photos | answered, still open | busy nextTasks p50 | fresh nextTasks p50 | ratio |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, size in (("small", settings.small), ("large", settings.large)):
        busy = results[key]["busy"]
        lines.append(
            f"| {size:,} | {busy['answered_open']} | {_ms(busy['busy_next_tasks_p50_ms'])} | "
            f"{_ms(busy['fresh_next_tasks_p50_ms'])} | {busy['busy_p50_ratio']} |"
        )
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


def parse_args(argv: list[str] | None = None) -> tuple[BenchSettings, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per pool")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per pool")
    parser.add_argument("--concurrency", type=int, default=8, help="simulated contributors")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds before a request is given up"
    )
    parser.add_argument("--small", type=int, default=1_000, help="photos in the small pool")
    parser.add_argument("--large", type=int, default=50_000, help="photos in the large pool")
    parser.add_argument("--seed", type=int, default=4, help="seed of the synthetic predictions")
    args = parser.parse_args(argv)
    if min(args.seconds, args.timeout) <= 0 or args.warmup < 0 or args.concurrency < 1:
        parser.error("--seconds and --timeout must be > 0, --warmup >= 0, --concurrency >= 1")
    if min(args.small, args.large) < 1:
        parser.error("--small and --large must be at least 1")
    settings = BenchSettings(
        seconds=args.seconds,
        warmup=args.warmup,
        concurrency=args.concurrency,
        timeout=args.timeout,
        small=args.small,
        large=args.large,
        seed=args.seed,
    )
    return settings, args.json


def main(argv: list[str] | None = None) -> int:
    settings, json_path = parse_args(argv)
    print(
        f"concurrency {settings.concurrency} ({CONTRIBUTORS_PER_LOOP * settings.concurrency} "
        f"contributors), {settings.seconds:g} s measured after {settings.warmup:g} s warm-up, "
        f"nextTasks(count: {TASKS_PER_CALL}), pools {settings.small:,} and {settings.large:,}",
        flush=True,
    )
    results: dict[str, Any] = {}
    for key, size in (("small", settings.small), ("large", settings.large)):
        results[key] = run_pool(size, settings)
        print(f"{key} ({size:,} photos): {json.dumps(results[key])}", flush=True)
    results |= {
        "next_tasks_p50_ratio": ratio(
            results["large"]["next_tasks_p50_ms"], results["small"]["next_tasks_p50_ms"]
        ),
        # Large-pool calls cut at the timeout make the ratio a lower bound.
        "next_tasks_p50_ratio_is_lower_bound": results["large"]["next_tasks_timeouts"] > 0,
        "seconds": settings.seconds,
        "warmup_seconds": settings.warmup,
        "concurrency": settings.concurrency,
        "small_n": settings.small,
        "large_n": settings.large,
    }
    print()
    print(table(results, settings))
    print(f"\nnext_tasks_p50_ratio (large / small): {results['next_tasks_p50_ratio']}")
    print(busy_table(results, settings))
    if any(results[k]["next_tasks_timeouts"] + results[k]["submit_timeouts"] for k in SIZES):
        print(f"* includes calls cut at the {settings.timeout:g} s timeout: a lower bound")
    for key in SIZES:
        for what, count in results[key]["error_kinds"].items():
            print(f"{key}: {count} x {what}")
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
