"""Documents past the query limits are refused before graphql-core's validation runs, and
while one is refused the service goes on answering others (a real uvicorn process)."""

import asyncio
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query

from api.database import Database
from api.documents import LIMITS
from api.embedded import free_port, port_listens
from api.settings import Settings
from tests.processes import PHOTOSURVEY, photosurvey_environment

GRAPHIQL_INTROSPECTION = Path(__file__).parent / "data" / "graphiql_introspection.graphql"


def doubling_fragments(levels: int, *, name: str = "Doubling") -> str:
    """The document of issue 16: each fragment spreads the next one twice, so a walk that
    follows every spread takes 2**levels steps (about 40 bytes a level)."""
    fragments = [
        f"fragment F{level} on Query {{ ...F{level + 1} ...F{level + 1} }}"
        for level in range(levels)
    ]
    return " ".join(
        [f"query {name} {{ ...F0 }}", *fragments, f"fragment F{levels} on Query {{ __typename }}"]
    )


def repeated_fields(copies: int, *, name: str = "Repeated") -> str:
    """The flat document of issue 16: one response name many times in one selection set."""
    return f"query {name} {{ " + "serverInfo { version } " * copies + "}"


def type_fields(copies: int) -> str:
    """A valid introspection query of 19 response names (`__type` and the fields it
    selects), each `copies` times: 19 * copies * (copies - 1) / 2 pairs to compare."""
    fields = (
        '__type(name: "Query") { kind name description specifiedByURL isOneOf '
        "interfaces { name } possibleTypes { name } enumValues { name } inputFields { name } "
        "ofType { name } fields { name description } }"
    )
    return "{ " + " ".join([fields] * copies) + " }"


def nested_type_refs(depth: int) -> str:
    """A valid introspection query whose fields nest `depth` levels deep."""
    return (
        "{ __schema { types { fields { type { "
        + "ofType { " * (depth - 5)
        + "name"
        + " }" * (depth - 1)
        + " }"
    )


@pytest.mark.parametrize(
    ("query", "limit", "allowed", "found", "message"),
    [
        (
            "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
            "fragment cycles",
            0,
            1,
            "the fragment 'A' spreads itself (A -> B -> A)",
        ),
        (
            "{ ...F0 } "
            + " ".join(f"fragment F{n} on Query {{ ...F{n + 1} }}" for n in range(50))
            + " fragment F50 on Query { __typename }",
            "fragments",
            50,
            51,
            "the document has 51 fragment definitions; at most 50 are allowed",
        ),
        (
            doubling_fragments(10),
            "selections",
            1000,
            3071,  # the operation's spread, then 3 * 2**(10 - n) - 2 in fragment n
            "the document has 3,071 selections (fields, inline fragments and spreads, with "
            "fragments expanded); at most 1,000 are allowed",
        ),
        (
            "{ a: serverInfo { ...V } b: serverInfo { ...V } } fragment V on ServerInfo { "
            + " ".join(f"v{n}: version" for n in range(7))
            + " }",
            "aliases",
            15,
            16,
            "the document has 16 aliases (with fragments expanded); at most 15 are allowed",
        ),
        (
            nested_type_refs(21),
            "depth",
            20,
            21,
            "the document nests fields 21 levels deep (with fragments expanded); at most 20 "
            "are allowed",
        ),
        (
            "{ serverInfo { version } ...S ... on Query { serverInfo { database } } } "
            "fragment S on Query { " + "serverInfo { version } " * 15 + "}",
            "repeats",
            16,
            17,
            "the response name 'serverInfo' is selected 17 times in one selection set",
        ),
        (  # merged under the two same-named parents, as execution merges them
            "{ serverInfo { " + "version " * 9 + "} serverInfo { " + "version " * 8 + "} }",
            "repeats",
            16,
            17,
            "the response name 'version' is selected 17 times in one selection set",
        ),
        (
            type_fields(16),
            "comparisons",
            2000,
            19 * 16 * 15 // 2,
            "the document has 2,280 pairs of fields of one response name in one selection set",
        ),
        (  # the input object, its 3 fields, the answer's object and list, 95 tags
            'mutation { submitAnswer(input: {leaseId: "l", idempotencyKey: "k", answer: '
            "{describe: {tags: [" + ", ".join(['"t"'] * 95) + "]}}}) { __typename } }",
            "values",
            100,
            101,
            "an argument or default value in the document holds 101 values",
        ),
    ],
)
async def test_a_document_past_a_limit_is_refused_naming_the_limit(
    http: httpx.AsyncClient, query: str, limit: str, allowed: int, found: int, message: str
) -> None:
    body = (await http.post("/graphql", json={"query": query})).json()
    _assert_refused(body, limit=limit, allowed=allowed, found=found)
    assert message in body["errors"][0]["message"]


async def test_a_document_of_too_many_operations_is_refused(http: httpx.AsyncClient) -> None:
    query = " ".join(f"query Q{n} {{ __typename }}" for n in range(11))
    body = (await http.post("/graphql", json={"query": query, "operationName": "Q0"})).json()
    _assert_refused(body, limit="operations", allowed=10, found=11)
    assert body["errors"][0]["message"] == (
        "the document has 11 operations; at most 10 are allowed"
    )


def _assert_refused(body: dict[str, Any], *, limit: str, allowed: int, found: int) -> None:
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": limit,
        "allowed": allowed,
        "found": found,
    }


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (  # the second A would hide the first one's cycle from a check that read one A
            "{ ...A } fragment A on Query { ...A } fragment A on Query { __typename }",
            "There can be only one fragment named 'A'.",
        ),
        ("{ __typename } fragment U on Query { __typename }", "Fragment 'U' is never used."),
        ("{ ...Missing }", "Unknown fragment 'Missing'."),
    ],
)
async def test_a_fragment_graphql_refuses_gets_its_usual_error(
    http: httpx.AsyncClient, query: str, message: str
) -> None:
    body = (await http.post("/graphql", json={"query": query})).json()
    assert body["data"] is None
    assert body["errors"][0]["message"] == message


@pytest.mark.parametrize(
    ("query", "operation"),
    [
        (repeated_fields(LIMITS.repeats), None),
        (nested_type_refs(LIMITS.depth), None),
        (type_fields(15), None),  # 1,995 comparisons
        ("{ " + " ".join(f"a{n}: __typename" for n in range(LIMITS.aliases)) + " }", None),
        (" ".join(f"query Q{n} {{ __typename }}" for n in range(LIMITS.operations)), "Q9"),
        (get_introspection_query(descriptions=True, input_value_deprecation=True), None),
        (GRAPHIQL_INTROSPECTION.read_text(), None),
    ],
)
async def test_a_document_within_the_limits_runs(
    http: httpx.AsyncClient, query: str, operation: str | None
) -> None:
    reply = await http.post("/graphql", json={"query": query, "operationName": operation})
    body = reply.json()
    assert "errors" not in body
    assert body["data"]


@pytest.fixture
def served(settings: Settings, db: Database, tmp_path: Path) -> Iterator[str]:
    """The base URL of a real ``photosurvey serve`` (uvicorn) on the test's database: the
    ASGI transport would run the app in the test's own event loop."""
    port = free_port()
    environment = photosurvey_environment(
        PHOTOSURVEY_MONGODB_URI=str(settings.mongodb_uri),
        PHOTOSURVEY_DB_NAME=settings.db_name,
        PHOTOSURVEY_DATA_DIR=str(tmp_path / "var"),
        PHOTOSURVEY_PORT=str(port),
        PHOTOSURVEY_ENV="dev",
        PHOTOSURVEY_PRELABEL_WORKER="off",
    )
    process = subprocess.Popen(
        [PHOTOSURVEY, "serve"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not port_listens(port):
            assert process.poll() is None, "photosurvey serve exited during start-up"
            assert time.monotonic() < deadline, "photosurvey serve never listened"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()


HOSTILE: dict[str, Callable[[str], str]] = {
    "490 repeated fields": lambda name: repeated_fields(490, name=name),
    "fragments doubling 30 levels": lambda name: doubling_fragments(30, name=name),
}


@pytest.mark.parametrize("hostile", HOSTILE)
async def test_a_hostile_document_is_refused_at_once_while_healthz_answers(
    served: str, hostile: str
) -> None:
    # Each try names its operation anew, so that no cache answers it.
    refusals: list[float] = []
    slowest_healthz: list[float] = []
    async with (
        httpx.AsyncClient(base_url=served, timeout=5) as attacker,
        httpx.AsyncClient(base_url=served, timeout=5) as other,
    ):
        # Connected, and the first answers given (the first GraphQL request sets up caches).
        await other.get("/healthz")
        await attacker.post("/graphql", json={"query": "{ __typename }"})
        for attempt in range(3):
            query = HOSTILE[hostile](f"Try{attempt}")
            refusal = asyncio.create_task(_timed(attacker.post("/graphql", json={"query": query})))
            healthz: list[float] = []
            while not healthz or not refusal.done():
                elapsed, response = await _timed(other.get("/healthz"))
                assert response.status_code == 200
                healthz.append(elapsed)
            elapsed, response = await refusal
            assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
            refusals.append(elapsed)
            slowest_healthz.append(max(healthz))
    assert statistics.median(refusals) < 1.0, refusals
    assert statistics.median(slowest_healthz) < 0.1, slowest_healthz


async def _timed(request: Awaitable[httpx.Response]) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = await request
    return time.perf_counter() - started, response
