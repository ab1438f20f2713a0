"""Bad input to the survey operations: each gets a clear, typed refusal and stores nothing."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.database import Database
from api.survey.operations import NEXT_TASKS, SUBMIT
from tests.api.survey.builders import add_open_photos, answer_for, graphql, token_for

DOTTED_I = "\u0130"  # "İ": lower-cased, it becomes two characters


def _error_code(body: dict[str, Any]) -> str:
    code: str = body["errors"][0]["extensions"]["code"]
    return code


@pytest.mark.parametrize(
    "query", [NEXT_TASKS, "{ me { name } }", "{ stats { photos } }"], ids=["next", "me", "stats"]
)
async def test_a_missing_token_is_unauthenticated(
    http: httpx.AsyncClient, db: Database, query: str
) -> None:
    body = await graphql(http, query, count=1) if "$count" in query else await graphql(http, query)
    assert _error_code(body) == "UNAUTHENTICATED"
    assert "Bearer" in body["errors"][0]["message"]


async def test_the_token_is_checked_before_the_arguments(http: httpx.AsyncClient) -> None:
    body = await graphql(http, NEXT_TASKS, count=21)
    assert _error_code(body) == "UNAUTHENTICATED"


async def test_an_unknown_token_is_unauthenticated(http: httpx.AsyncClient, db: Database) -> None:
    body = await graphql(http, "{ me { name } }", "ps_not-a-real-token")
    assert _error_code(body) == "UNAUTHENTICATED"
    assert "matches no contributor" in body["errors"][0]["message"]


async def test_a_malformed_authorization_header_is_unauthenticated(
    http: httpx.AsyncClient, db: Database
) -> None:
    response = await http.post(
        "/graphql", json={"query": "{ me { name } }"}, headers={"Authorization": "Basic abc"}
    )
    assert _error_code(response.json()) == "UNAUTHENTICATED"


@pytest.mark.parametrize("count", [0, -1, 21, 1000])
async def test_count_out_of_range_is_bad_input(
    http: httpx.AsyncClient, db: Database, count: int
) -> None:
    body = await graphql(http, NEXT_TASKS, await token_for(db), count=count)
    assert _error_code(body) == "BAD_USER_INPUT"
    assert "count must be 1-20" in body["errors"][0]["message"]


async def _leased_task(
    http: httpx.AsyncClient, db: Database, top: float
) -> tuple[str, dict[str, Any]]:
    await add_open_photos(db, [top])
    token = await token_for(db)
    (task,) = (await graphql(http, NEXT_TASKS, token, count=1))["data"]["nextTasks"]
    return token, task


@pytest.mark.parametrize(
    ("top", "answer", "reason"),
    [
        (0.9, {"choose": {"labelId": "n0"}}, "the question is VERIFY; the answer is CHOOSE"),
        (0.3, {"verify": "YES"}, "the question is CHOOSE; the answer is VERIFY"),
        (0.3, {"choose": {"labelId": "n999"}}, "'n999' is not a candidate"),
        (0.3, {"choose": {"labelId": ""}}, "'' is not a candidate"),
        (0.05, {"describe": {"tags": ["  ", ""]}}, "at least one non-empty tag"),
        (0.05, {"describe": {"tags": ["\u200b", "\u0301\u0301"]}}, "at least one non-empty tag"),
        (0.05, {"describe": {"tags": ["x" * 65]}}, "at most 64 characters"),
        (0.05, {"describe": {"tags": [f"t{i}" for i in range(21)]}}, "at most 20 are accepted"),
        (0.05, {"describe": {"tags": ["cat"] * 21}}, "21 tags given; at most 20"),  # as sent
        (0.05, {"describe": {"tags": [DOTTED_I * 65]}}, f"{DOTTED_I * 20!r}... is longer"),
        (0.05, {"describe": {"tags": ["cat\x00dog"]}}, "must not contain control characters"),
    ],
)
async def test_an_answer_that_does_not_fit_is_invalid(
    http: httpx.AsyncClient, db: Database, top: float, answer: dict[str, Any], reason: str
) -> None:
    token, task = await _leased_task(http, db, top)
    payload = {"leaseId": task["leaseId"], "answer": answer, "idempotencyKey": "k"}
    result = (await graphql(http, SUBMIT, token, input=payload))["data"]["submitAnswer"]
    assert result["__typename"] == "InvalidAnswer"
    assert reason in result["reason"]
    assert await db.answers.count_documents({}) == 0


async def test_a_tag_is_measured_as_sent_not_as_lower_cased(
    http: httpx.AsyncClient, db: Database
) -> None:
    token, task = await _leased_task(http, db, 0.05)
    answer = {"describe": {"tags": [DOTTED_I * 64]}}  # 64 characters; 128 lower-cased
    payload = {"leaseId": task["leaseId"], "answer": answer, "idempotencyKey": "k"}
    result = (await graphql(http, SUBMIT, token, input=payload))["data"]["submitAnswer"]
    assert result["__typename"] == "AnswerAccepted"
    stored = await db.answers.find_one({"_id": result["answerId"]})
    assert stored is not None
    assert stored["value"] == {"describe": [DOTTED_I.lower() * 64]}


async def test_two_answer_kinds_at_once_are_refused_by_one_of(
    http: httpx.AsyncClient, db: Database
) -> None:
    token, task = await _leased_task(http, db, 0.9)
    answer = {"verify": "YES", "describe": {"tags": ["dog"]}}
    payload = {"leaseId": task["leaseId"], "answer": answer, "idempotencyKey": "k"}
    body = await graphql(http, SUBMIT, token, input=payload)
    assert "exactly one key" in body["errors"][0]["message"]
    assert await db.answers.count_documents({}) == 0


async def test_another_contributors_lease_is_not_found(
    http: httpx.AsyncClient, db: Database
) -> None:
    _, task = await _leased_task(http, db, 0.9)
    intruder = await token_for(db)
    payload = {"leaseId": task["leaseId"], "answer": answer_for(task), "idempotencyKey": "k"}
    result = (await graphql(http, SUBMIT, intruder, input=payload))["data"]["submitAnswer"]
    assert result["__typename"] == "LeaseNotFound"
    assert "no lease of yours has this id" in result["message"]
    assert await db.answers.count_documents({}) == 0


async def test_an_expired_lease_stores_nothing(http: httpx.AsyncClient, db: Database) -> None:
    token, task = await _leased_task(http, db, 0.9)
    past = datetime.now(UTC) - timedelta(seconds=1)
    await db.leases.update_one({"_id": task["leaseId"]}, {"$set": {"expires_at": past}})
    payload = {"leaseId": task["leaseId"], "answer": answer_for(task), "idempotencyKey": "k"}
    result = (await graphql(http, SUBMIT, token, input=payload))["data"]["submitAnswer"]
    assert result["__typename"] == "LeaseExpired"
    assert await db.answers.count_documents({}) == 0


@pytest.mark.parametrize("key", ["", "k" * 129])
async def test_a_bad_idempotency_key_is_bad_input(
    http: httpx.AsyncClient, db: Database, key: str
) -> None:
    token, task = await _leased_task(http, db, 0.9)
    payload = {"leaseId": task["leaseId"], "answer": answer_for(task), "idempotencyKey": key}
    body = await graphql(http, SUBMIT, token, input=payload)
    assert _error_code(body) == "BAD_USER_INPUT"
    assert "idempotencyKey" in body["errors"][0]["message"]
    assert await db.answers.count_documents({}) == 0


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        ("mutation($c: Int!) { nextTasks(count: $c) { leaseId } }", {"c": "abc"},
         "Variable '$c' has invalid value: Int cannot represent non-integer value: 'abc'"),
        ("mutation($c: Int!) { nextTasks(count: $c) { leaseId } }", {"c": 2**40},
         "Int cannot represent non 32-bit signed integer value"),
        ("mutation($i: SubmitAnswerInput!) { submitAnswer(input: $i) { __typename } }",
         {"i": {"leaseId": "x", "idempotencyKey": "k", "answer": {"verify": "MAYBE"}}},
         "at .answer.verify: Value 'MAYBE' does not exist in 'Verdict' enum"),
        ("mutation($i: SubmitAnswerInput!) { submitAnswer(input: $i) { __typename } }",
         {"i": {"leaseId": "x", "idempotencyKey": "k", "answer": {"describe": {"tags": 5}}}},
         "at .answer.describe.tags: String cannot represent a non string value: 5"),
        ("query($f: PhotoFilterInput) { photos(filter: $f) { edges { cursor } } }",
         {"f": {"source": "NOPE"}}, "Value 'NOPE' does not exist in 'PhotoSource' enum"),
        ('query($s: PhotoSize!) { photo(id: "x") { url(size: $s) } }', {"s": "HUGE"},
         "Value 'HUGE' does not exist in 'PhotoSize' enum"),
    ],
)  # fmt: skip
async def test_a_variable_of_the_wrong_type_is_named_with_what_was_wrong(
    http: httpx.AsyncClient,
    db: Database,
    caplog: pytest.LogCaptureFixture,
    query: str,
    variables: dict[str, Any],
    message: str,
) -> None:
    token = await token_for(db, role="admin")
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert message in response.json()["errors"][0]["message"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"], "logged as a fault"
    assert await db.answers.count_documents({}) == 0


ID_OPERATIONS = {
    "releaseTask": ("mutation($id: ID!) { releaseTask(leaseId: $id) { __typename } }", "leaseId"),
    "submitAnswer": (
        """mutation($id: ID!) { submitAnswer(input: {leaseId: $id, idempotencyKey: "k",
           answer: {verify: YES}}) { __typename } }""",
        "leaseId",
    ),
    "markGold": ("""mutation($id: ID!) { markGold(photoId: $id, labelId: "n0") { __typename } }""",
                 "photoId"),
    "photo": ("query($id: ID!) { photo(id: $id) { id } }", "id"),
}  # fmt: skip


@pytest.mark.parametrize("operation", ID_OPERATIONS)
@pytest.mark.parametrize("length", [129, 1_000_000])  # the most a request (1 MiB) can carry
async def test_an_id_longer_than_any_id_is_bad_input_and_changes_nothing(
    http: httpx.AsyncClient, db: Database, operation: str, length: int
) -> None:
    (photo_id,) = await add_open_photos(db, [0.9])
    before = await db.photos.find_one({"_id": photo_id})
    query, name = ID_OPERATIONS[operation]
    body = await graphql(http, query, await token_for(db, role="admin"), id="p" * length)
    assert _error_code(body) == "BAD_USER_INPUT"
    assert f"{name} is {length} characters; ids are at most 128" in body["errors"][0]["message"]
    assert await db.photos.find_one({"_id": photo_id}) == before
    assert await db.answers.count_documents({}) == await db.leases.count_documents({}) == 0
