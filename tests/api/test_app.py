from pathlib import Path

import httpx
import pytest
from graphql import get_introspection_query

import api
from api.database import Database
from api.documents import MAX_QUERY_CHARACTERS
from api.embedded import EmbeddedDatabase
from api.settings import Settings
from tests.conftest import serve

SERVER_INFO = "{ serverInfo { version database } }"


async def test_healthz_answers_while_the_process_lives(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_200_when_the_database_answers(http: httpx.AsyncClient) -> None:
    response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_server_info_over_post(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", json={"query": SERVER_INFO})
    assert response.status_code == 200
    assert response.json() == {
        "data": {"serverInfo": {"version": api.__version__, "database": "MONGODB"}}
    }


async def test_graphql_is_not_redirected(http: httpx.AsyncClient) -> None:
    # A Starlette Mount would answer POST /graphql with 307 to /graphql/.
    response = await http.post("/graphql", json={"query": SERVER_INFO}, follow_redirects=False)
    assert response.status_code == 200


async def test_graphiql_is_served_in_dev(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_graphiql_is_not_served_in_production(settings: Settings, db: Database) -> None:
    production = Settings(
        mongodb_uri=settings.mongodb_uri, db_name=settings.db_name, secret_key="k" * 32
    )
    async with serve(production) as c:
        page = await c.get("/graphql", headers={"accept": "text/html"})
        query = await c.post("/graphql", json={"query": SERVER_INFO})
    assert page.status_code == 404
    assert query.json()["data"]["serverInfo"]["version"] == api.__version__


async def test_every_response_carries_a_request_id(http: httpx.AsyncClient) -> None:
    generated = await http.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    echoed = await http.get("/healthz", headers={"x-request-id": "client-abc.1"})
    assert echoed.headers["x-request-id"] == "client-abc.1"


async def test_an_unsafe_request_id_is_replaced(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz", headers={"x-request-id": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"
    assert len(response.headers["x-request-id"]) == 32


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ serverInfo { version ", "Syntax Error"),
        ("{ serverInfo { nope } }", "Cannot query field 'nope'"),
    ],
)
async def test_a_bad_query_gets_a_clear_error(
    http: httpx.AsyncClient, query: str, message: str
) -> None:
    response = await http.post("/graphql", json={"query": query})
    errors = response.json()["errors"]
    assert message in errors[0]["message"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "{ " + " ".join(f"a{i}: serverInfo {{ version }}" for i in range(16)) + " }",
            "the document has 16 aliases (with fragments expanded); at most 15 are allowed",
        ),
        ("{ " + "serverInfo { version } " * 600 + "}", "more than 2000 tokens"),
    ],
)
async def test_a_document_too_big_to_be_a_client_operation_is_refused(
    http: httpx.AsyncClient, query: str, message: str
) -> None:
    body = (await http.post("/graphql", json={"query": query})).json()
    assert body["data"] is None
    assert message in body["errors"][0]["message"]


async def test_the_full_introspection_query_fits_the_bounds(http: httpx.AsyncClient) -> None:
    query = get_introspection_query(descriptions=True, input_value_deprecation=True)
    body = (await http.post("/graphql", json={"query": query})).json()
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"null", "must be a JSON object with `query`"),
        (b'"x"', "must be a JSON object with `query`"),
        (b"1", "must be a JSON object with `query`"),
        (b'{"query": "\xff\xfe"}', "can't decode byte 0xff"),
        (b"[" * 100_000 + b"]" * 100_000, "maximum recursion depth"),
        (
            b'{"query": "{ serverInfo { version } }", "variables": {"a": '
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}}",
            "maximum recursion depth",
        ),
        (b'{"query": "{ __typename }", "variables": {"a": ' + b"1" * 5000 + b"}}", "4300 digits"),
        (b"{not json", "the request is not JSON: Expecting property name"),
        (b'{"query": "{ __typename }", "variables": {"k": "a\\ud800"}}', "lone surrogate"),
        (b'{"query": "{ __typename }", "operationName": "\\udfff"}', "lone surrogate"),
        (b'{"query": "{ __typename }", "variables": {"ok": "\\ud83d\\ude00"}}', ""),
        (  # nested deeper than a recursive walk goes, though the JSON parser accepts it
            b'{"query": "{ __typename }", "variables": {"a": ' + b"[" * 900 + b"]" * 900 + b"}}",
            "",
        ),
        (b'[{"query": "{ serverInfo { version } }"}]', "Batching is not enabled"),
        (  # strawberry converts variables on the event loop: millions of items would stall it
            b'{"query": "{ __typename }", "variables": {"tags": [' + b'"a",' * 1000 + b'"a"]}}',
            "holds a list of 1,001 entries; at most 1,000",
        ),
        (
            b'{"query": "{ __typename }", "variables": {'
            + b",".join(b'"k%d": 1' % n for n in range(1001))
            + b"}}",
            "holds an object of 1,001 entries; at most 1,000",
        ),
        (b'{"query": "{ __typename }", "variables": {"tags": [' + b'"a",' * 999 + b'"a"]}}', ""),
    ],
)
async def test_a_body_that_is_not_a_graphql_request_is_a_400(
    http: httpx.AsyncClient, body: bytes, message: str
) -> None:
    response = await http.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == (400 if message else 200)  # a surrogate pair is fine
    assert message in response.text


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "multipart/form-data+application/json", "text/plain", ""],
)
async def test_a_request_that_is_not_an_upload_is_capped_at_one_mebibyte(
    http: httpx.AsyncClient, content_type: str
) -> None:
    # Refused before it is read, with or without a token: uploads alone may be larger, and
    # an upload is what strawberry reads as one (the last two it reads as JSON).
    padding = " " * (1024 * 1024)
    response = await http.post(
        "/graphql",
        content=b'{"query": "{ __typename }' + padding.encode() + b'"}',
        headers={"content-type": content_type},
    )
    assert response.status_code == 413
    assert response.json()["error"] == (
        "the request body is larger than the limit of 1,048,576 bytes for a request that is "
        "not an upload"
    )


TWO_OPERATIONS = "query A { serverInfo { version } } mutation B { __typename }"


async def test_a_document_of_several_operations_needs_an_operation_name(
    http: httpx.AsyncClient,
) -> None:
    posted = await http.post("/graphql", json={"query": TWO_OPERATIONS})
    fetched = await http.get(
        "/graphql", params={"query": TWO_OPERATIONS}, headers={"accept": "application/json"}
    )
    for response in (posted, fetched):
        assert response.status_code == 400
        assert "2 operations (A, B): name the one to run in `operationName`" in response.text
    named = await http.post("/graphql", json={"query": TWO_OPERATIONS, "operationName": "B"})
    assert named.json() == {"data": {"__typename": "Mutation"}}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("query A { x } query B {", "Syntax Error"),
        ("{ __typename } { __typename }", "This anonymous operation must be the only defined"),
        ("query A { __typename } query A { __typename }", "only one operation named 'A'"),
    ],
)
async def test_a_document_the_operation_check_cannot_help_with_is_left_to_graphql(
    http: httpx.AsyncClient, query: str, message: str
) -> None:
    response = await http.post("/graphql", json={"query": query})
    assert message in response.json()["errors"][0]["message"]


async def test_a_query_longer_than_any_client_operation_is_refused_unparsed(
    http: httpx.AsyncClient,
) -> None:
    query = "{ __typename } # " + "x" * MAX_QUERY_CHARACTERS  # a comment is no token
    response = await http.post("/graphql", json={"query": query})
    assert response.status_code == 400
    assert "the query is 20,017 characters; at most 20,000" in response.text


async def test_a_get_with_null_variables_runs_the_query(http: httpx.AsyncClient) -> None:
    response = await http.get(
        "/graphql",
        params={"query": "{ __typename }", "variables": "null"},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_readyz_is_503_while_the_database_is_gone_and_200_once_it_is_back(
    tmp_path: Path,
) -> None:
    server = EmbeddedDatabase.start(tmp_path / "db")
    try:
        server.wait_until_ready()
        settings = Settings(
            mongodb_uri=server.uri, db_name="readyz", secret_key="k" * 32, prelabel_worker=False
        )
        # Background loops give a step that waits on the lost database a few seconds.
        async with serve(settings, shutdown_timeout=30) as client:
            assert (await client.get("/readyz")).status_code == 200
            server.stop()
            gone = await client.get("/readyz")
            alive = await client.get("/healthz")
            server = EmbeddedDatabase.start(tmp_path / "db", port=server.port)
            server.wait_until_ready()
            # The app is stopped with its database back: closing a PyMongo 4.20 client while
            # its monitor is still connecting to a lost server leaks that socket.
            back = await _readyz_until_200(client, attempts=10)
    finally:
        server.stop()
    assert gone.status_code == 503
    assert gone.json() == {
        "status": "database unavailable",
        "reason": "no answer to ping within 2 s",
    }
    assert alive.status_code == 200
    assert back.status_code == 200


async def _readyz_until_200(client: httpx.AsyncClient, *, attempts: int) -> httpx.Response:
    """`/readyz`, asked again (each waits at most 2 s) until it says ready or attempts end."""
    for _ in range(attempts - 1):
        response = await client.get("/readyz")
        if response.status_code == 200:
            return response
    return await client.get("/readyz")
