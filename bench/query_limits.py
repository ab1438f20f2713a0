"""How long the event loop is held parsing and validating hostile GraphQL documents.

    .venv/bin/python bench/query_limits.py [--random N] [--seed S] [--json OUT]

Each document goes through what the service does before running one: the operation-name
parse of `api.app` (no locations), strawberry's parse, then `validate_document` (the linear
checks of `api.query_limits`, then graphql-core's rules), with the caches bypassed, in the
dev schema (introspection and "Did you mean" suggestions on: the costlier of the two).
Times are CPU time of this process (median of 5), so a busy machine inflates them little.

First a catalogue of documents built to sit at, or just past, each limit; then N random
documents (default 2,000) drawn from the same ingredients (known and unknown fields and
types, aliases, fragments, inline fragments, arguments, directives, variables, long names
and comments), of which the slowest five are shown.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import string
import sys
import time
from collections.abc import Sequence
from pathlib import Path

# With this folder first on sys.path, `import api` would find bench/api.py (see there).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

from graphql import GraphQLError, get_introspection_query, specified_rules  # noqa: E402

from api.documents import (  # noqa: E402
    LIMITS,
    MAX_QUERY_CHARACTERS,
    parse_document,
    validate_document,
)
from api.schema import build_schema  # noqa: E402

SCHEMA = build_schema(introspection=True)._schema
TYPE_NAMES = [name for name in SCHEMA.type_map if not name.startswith("__")]


def hold(query: str) -> tuple[float, str]:
    """CPU seconds to refuse or accept `query`, and the first error (or "valid")."""
    started = time.process_time()
    outcome = "valid"
    if len(query) > MAX_QUERY_CHARACTERS:
        return time.process_time() - started, "refused: too many characters"
    try:
        document = parse_document.__wrapped__(query)
    except GraphQLError as error:
        return time.process_time() - started, error.message
    errors = validate_document.__wrapped__(
        SCHEMA, document, tuple(specified_rules), hide_suggestions=False
    )
    if errors:
        outcome = f"{len(errors)} errors: {errors[0].message}"
    return time.process_time() - started, outcome


def median_hold(query: str) -> tuple[float, str]:
    runs = [hold(query) for _ in range(5)]
    return statistics.median(seconds for seconds, _ in runs), runs[0][1]


def _name(n: int) -> str:
    letters = ""
    while True:
        letters = string.ascii_lowercase[n % 26] + letters
        n //= 26
        if n == 0:
            return letters


def doubling(levels: int) -> str:
    spreads = [f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels)]
    return " ".join(["{ ...F0 }", *spreads, f"fragment F{levels} on Query {{ __typename }}"])


def chains(copies: int, *, depth: int, leaves: int) -> str:
    """`copies` of one chain of `depth` fields, each level with `leaves` leaf fields: every
    level's fields are merged with the other copies' and compared pairwise."""
    body = "z"
    for _ in range(depth - 1):
        body = "a { " + " ".join(f"l{n}" for n in range(leaves)) + f" {body} }}"
    return "{ " + " ".join([body] * copies) + " }"


def type_fields(copies: int) -> str:
    fields = (
        '__type(name: "Query") { kind name description specifiedByURL isOneOf '
        "interfaces { name } possibleTypes { name } enumValues { name } inputFields { name } "
        "ofType { name } fields { name description } }"
    )
    return "{ " + " ".join([fields] * copies) + " }"


CATALOGUE: dict[str, str] = {
    "issue 16: 490 x serverInfo { version }": "{" + " serverInfo { version }" * 490 + " }",
    "issue 16: fragments doubling, 30 levels": doubling(30),
    "GraphiQL introspection query": (
        Path(__file__).resolve().parents[1] / "tests/api/data/graphiql_introspection.graphql"
    ).read_text(),
    "graphql-core introspection query": get_introspection_query(input_value_deprecation=True),
    "16 x serverInfo { version database }": "{" + " serverInfo { version database }" * 16 + "}",
    "16 x unknown field with 58 children": "{"
    + (" a { " + " ".join(_name(n) for n in range(58)) + " }") * 16
    + " }",
    "16 x a, each 15 levels deep (merged)": "{" + (" a {" * 15 + " z" + " }" * 15) * 16 + " }",
    "16 x a chain 19 deep, 2 leaves a level": chains(16, depth=19, leaves=2),
    "8 x a chain 19 deep, 2 leaves a level": chains(8, depth=19, leaves=2),
    "4 x a chain 19 deep, 10 leaves a level": chains(4, depth=19, leaves=10),
    "15 x __type with 18 fields (1,995 comparisons)": type_fields(15),
    "62 names x 16 each, one selection set": "{"
    + "".join(f" {_name(n)}" * 16 for n in range(62))
    + " }",
    "10 operations x 16 serverInfo": " ".join(
        f"query Q{n} {{" + " serverInfo { version }" * 16 + " }" for n in range(10)
    ),
    "16 fragments spread together, same field": "{ "
    + " ".join(f"...F{n}" for n in range(16))
    + " } "
    + " ".join(f"fragment F{n} on Query {{ serverInfo {{ version }} }}" for n in range(16)),
    "50 fragments spread together, 8 fields each": "{ "
    + " ".join(f"...F{n}" for n in range(50))
    + " } "
    + " ".join(
        f"fragment F{n} on Query {{ " + " ".join(f"x{n}_{m}" for m in range(8)) + " }"
        for n in range(50)
    ),
    "199 nested inline fragments": "{" + " ... on Query {" * 190 + " __typename" + " }" * 191,
    "unknown types like SubmitAnswerResult (suggestions)": "{ "
    + " ".join(f"... on SubmitAnswerResultz{n} {{ f{n} }}" for n in range(150))
    + " }",
    "fragments on unknown types (suggestions)": "{ ...F0 } "
    + " ".join(f"fragment F{n} on SubmitAnswerResulz{n} {{ ...F{n + 1} }}" for n in range(49))
    + " fragment F49 on Query { __typename }",
    "unknown fields after a comment (locations)": "#"
    + "x" * 18_000
    + "\n{ "
    + " ".join(f"serverInfoo{n}" for n in range(150))
    + " }",
    "30 unknown arguments x 16": "{"
    + (" serverInfo(" + " ".join(f"a{n}: 1" for n in range(30)) + ") { version }") * 16
    + " }",
    "100-value argument, unknown fields": "{ photos(filter: {"
    + " ".join(f"statusx{n}: 1" for n in range(99))
    + "}) { edges { cursor } } }",
    "400 @include on one field": "{ serverInfo { version" + " @include(if: true)" * 400 + " } }",
    "block string of 19,900 characters": '{ serverInfo(a: """'
    + "x\n" * 9950
    + '""") { version } }',
    "2,000 tokens of 9-letter names": "{ " + " ".join(f"n{n:08d}" for n in range(1990)) + " }",
}


def random_document(rng: random.Random) -> str:
    """A document of random ingredients, most of it within the limits."""
    fragments = [f"F{n}" for n in range(rng.randint(0, 12))]

    def name() -> str:
        return rng.choice(
            [
                "serverInfo",
                "version",
                "__typename",
                "me",
                "photos",
                rng.choice(TYPE_NAMES) + rng.choice(["", "z", "s"]),
                _name(rng.randrange(30)),
            ]
        )

    def value(depth: int) -> str:
        kind = rng.randrange(5 if depth < 3 else 3)
        if kind == 0:
            return str(rng.randrange(100))
        if kind == 1:
            return '"' + "x" * rng.randrange(30) + '"'
        if kind == 2:
            return rng.choice(["UPLOAD", "SAMPLE", "true", "null", "$v"])
        if kind == 3:
            return "[" + " ".join(value(depth + 1) for _ in range(rng.randrange(8))) + "]"
        items = (f"{name()}: {value(depth + 1)}" for _ in range(rng.randrange(1, 8)))
        return "{" + " ".join(items) + "}"

    def selections(depth: int, budget: list[int]) -> str:
        parts = []
        for _ in range(rng.randint(1, 18)):
            if budget[0] <= 0:
                break
            budget[0] -= 1
            kind = rng.randrange(10)
            if kind == 0 and fragments:
                parts.append("..." + rng.choice(fragments))
            elif kind == 1:
                condition = rng.choice(["", "on Query ", f"on {rng.choice(TYPE_NAMES)}z "])
                parts.append(f"... {condition}{{ {selections(depth, budget)} }}")
            else:
                field = name() if rng.random() > 0.05 else f"{_name(rng.randrange(9))}: {name()}"
                if rng.random() < 0.2:
                    field += f"({name()}: {value(0)})"
                if rng.random() < 0.1:
                    field += " @include(if: true)" * rng.randint(1, 3)
                if depth < 19 and rng.random() < 0.4:
                    field += f" {{ {selections(depth + 1, budget)} }}"
                parts.append(field)
        return " ".join(parts) or "__typename"

    budget = [rng.randint(20, 600)]
    every_fragment = " ".join(f"...{f}" for f in fragments)  # none is left unused
    definitions = [
        f"query Q{n}($v: Boolean) {{ {every_fragment} {selections(1, budget)} }}"
        for n in range(rng.randint(1, 4))
    ]
    definitions += [f"fragment {f} on Query {{ {selections(1, budget)} }}" for f in fragments]
    rng.shuffle(definitions)
    return " ".join(definitions)


def run_random(count: int, seed: int) -> list[tuple[float, int, str, str]]:
    rng = random.Random(seed)
    slowest: list[tuple[float, int, str, str]] = []
    for _ in range(count):
        query = random_document(rng)
        seconds, outcome = hold(query)
        slowest = sorted([*slowest, (seconds, len(query), outcome, query)], reverse=True)[:5]
    # Measure the slowest again, as the catalogue is measured.
    return [(median_hold(q)[0], size, outcome, q) for _, size, outcome, q in slowest]


def show(label: str, seconds: float, outcome: str) -> None:
    print(f"{seconds * 1000:7.1f} ms  {label:52.52}  {outcome[:70]}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--random", type=int, default=2000, help="random documents to try")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"limits: {LIMITS}")
    results: dict[str, dict[str, object]] = {}
    for label, query in CATALOGUE.items():
        seconds, outcome = median_hold(query)
        show(label, seconds, outcome)
        results[label] = {"ms": round(seconds * 1000, 2), "outcome": outcome}
    print(f"slowest of {args.random} random documents (seed {args.seed}):")
    for seconds, size, outcome, query in run_random(args.random, args.seed):
        show(f"random, {size:,} characters", seconds, outcome)
        results[f"random: {query}"] = {"ms": round(seconds * 1000, 2), "outcome": outcome}
    worst = max(result["ms"] for result in results.values())  # type: ignore[type-var]
    print(f"worst: {worst} ms")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
