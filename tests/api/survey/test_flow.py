"""Tasks and answers through GraphQL over HTTP, on the real database."""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.consensus import ReliabilityPrior, RetirementPolicy
from api.database import Database
from api.survey.aggregating import ConsensusConfig
from api.survey.operations import NEXT_TASKS, SUBMIT
from api.survey.tasks import MAX_HELD_LEASES, reap_expired_holds
from tests.api.survey.builders import add_open_photos, answer_for, graphql, token_for


async def test_most_uncertain_photos_are_served_first(
    http: httpx.AsyncClient, db: Database
) -> None:
    tops = [0.95, 0.3, 0.6, 0.12, 0.8, 0.45]
    ids = await add_open_photos(db, tops)
    token = await token_for(db)
    body = await graphql(http, NEXT_TASKS, token, count=3)
    served = [task["photoId"] for task in body["data"]["nextTasks"]]
    by_uncertainty = [pid for _, pid in sorted(zip(tops, ids, strict=True))]
    assert served == by_uncertainty[:3]
    reasons = body["data"]["nextTasks"]
    assert all(r["reason"]["policy"] == "uncertainty:least_confidence" for r in reasons)
    assert [r["reason"]["score"] for r in reasons] == pytest.approx([0.88, 0.7, 0.55])


async def test_question_kind_follows_the_model_confidence(
    http: httpx.AsyncClient, db: Database
) -> None:
    await add_open_photos(db, [0.9, 0.3, 0.05])
    token = await token_for(db)
    tasks = (await graphql(http, NEXT_TASKS, token, count=3))["data"]["nextTasks"]
    kinds = {task["question"]["kind"] for task in tasks}
    assert kinds == {"VERIFY", "CHOOSE", "DESCRIBE"}
    verify = next(t for t in tasks if t["question"]["kind"] == "VERIFY")
    assert verify["question"]["prompt"] == "Does this photo show label zero?"
    assert verify["question"]["labels"] == [{"id": "n0", "name": "label zero"}]


@dataclass(frozen=True)
class FirstAnswer:
    """One open photo, served to a new contributor and answered once with key ``k-1``."""

    photo_id: str
    token: str
    task: dict[str, Any]
    payload: dict[str, Any]
    result: dict[str, Any]


async def answer_one_photo(http: httpx.AsyncClient, db: Database) -> FirstAnswer:
    (photo_id,) = await add_open_photos(db, [0.3])
    token = await token_for(db)
    (task,) = (await graphql(http, NEXT_TASKS, token, count=1))["data"]["nextTasks"]
    payload = {"leaseId": task["leaseId"], "answer": answer_for(task), "idempotencyKey": "k-1"}
    return FirstAnswer(photo_id, token, task, payload, await submit(http, token, payload))


async def submit(http: httpx.AsyncClient, token: str, payload: dict[str, Any]) -> dict[str, Any]:
    """`submitAnswer` with `payload` as its input; the result's data."""
    result: dict[str, Any] = (await graphql(http, SUBMIT, token, input=payload))["data"][
        "submitAnswer"
    ]
    return result


async def test_answer_is_accepted_once_and_replays_by_key(
    http: httpx.AsyncClient, db: Database
) -> None:
    first = await answer_one_photo(http, db)
    again = await submit(http, first.token, first.payload)
    assert first.result["__typename"] == "AnswerAccepted"
    photo = await db.photos.find_one({"_id": first.photo_id})
    assert photo is not None
    assert 1 <= first.result["answersStillNeeded"] == photo["still_needed"] < 7
    assert again == first.result
    assert await db.answers.count_documents({"photo_id": first.photo_id}) == 1

    other = first.payload | {"answer": answer_for(first.task, choice=1)}
    reused = await submit(http, first.token, other)
    assert reused["__typename"] == "IdempotencyKeyReused"
    elsewhere = await submit(http, first.token, first.payload | {"leaseId": "another-lease"})
    assert elsewhere["__typename"] == "IdempotencyKeyReused"
    assert "another lease or answer" in elsewhere["message"]
    twice = await submit(http, first.token, first.payload | {"idempotencyKey": "k-2"})
    assert twice["__typename"] == "AlreadyAnswered"
    assert await db.answers.count_documents({"photo_id": first.photo_id}) == 1


ME_AND_STATS = "{ me { answerCount } stats { answers } }"


async def test_a_contributor_never_gets_a_photo_twice(
    http: httpx.AsyncClient, db: Database
) -> None:
    await add_open_photos(db, [0.3, 0.4])
    token = await token_for(db)
    seen: list[str] = []
    for _ in range(3):
        tasks = (await graphql(http, NEXT_TASKS, token, count=5))["data"]["nextTasks"]
        for task in tasks:
            seen.append(task["photoId"])
            payload = {"leaseId": task["leaseId"], "answer": answer_for(task),
                       "idempotencyKey": task["leaseId"]}  # fmt: skip
            await graphql(http, SUBMIT, token, input=payload)
    assert len(seen) == 2
    assert len(set(seen)) == 2


async def test_a_photo_is_not_leased_beyond_the_answers_it_needs(
    http: httpx.AsyncClient, db: Database
) -> None:
    (photo_id,) = await add_open_photos(db, [0.3])
    leased = []
    for _ in range(5):
        token = await token_for(db)
        leased += (await graphql(http, NEXT_TASKS, token, count=1))["data"]["nextTasks"]
    assert len(leased) == 3
    photo = await db.photos.find_one({"_id": photo_id})
    assert photo is not None
    assert len(photo["holds"]) == 3
    assert photo["bucket"] is None


@pytest.mark.usefixtures("background_paused")  # the test runs the reaper's step itself
async def test_released_and_expired_leases_return_to_the_pool(
    http: httpx.AsyncClient, db: Database
) -> None:
    one_slot = ConsensusConfig(retirement=RetirementPolicy(cap=1), reliability=ReliabilityPrior(),
                               gold_rate=0.0)  # fmt: skip
    await add_open_photos(db, [0.3], config=one_slot)
    first, second = await token_for(db), await token_for(db)
    (task,) = (await graphql(http, NEXT_TASKS, first, count=1))["data"]["nextTasks"]
    assert (await graphql(http, NEXT_TASKS, second, count=1))["data"]["nextTasks"] == []

    release = "mutation($id: ID!) { releaseTask(leaseId: $id) { __typename } }"
    released = await graphql(http, release, first, id=task["leaseId"])
    assert released["data"]["releaseTask"]["__typename"] == "TaskReleased"
    (again,) = (await graphql(http, NEXT_TASKS, second, count=1))["data"]["nextTasks"]

    # Let the second lease expire, as if its holder walked away.
    past = datetime.now(UTC) - timedelta(seconds=1)
    await db.photos.update_one({}, {"$set": {"holds.0.expires_at": past}})
    await db.leases.update_one({"_id": again["leaseId"]}, {"$set": {"expires_at": past}})
    payload = {"leaseId": again["leaseId"], "answer": answer_for(again), "idempotencyKey": "late"}
    late = (await graphql(http, SUBMIT, second, input=payload))["data"]["submitAnswer"]
    assert late["__typename"] == "LeaseExpired"
    # The reaper (every 5 seconds in the service) puts the slot back. The first contributor
    # gave the photo back: it is not offered to them again, but to anyone else.
    assert await reap_expired_holds(db, now=datetime.now(UTC)) == 1
    assert (await graphql(http, NEXT_TASKS, first, count=1))["data"]["nextTasks"] == []
    third = await token_for(db)
    (later,) = (await graphql(http, NEXT_TASKS, third, count=1))["data"]["nextTasks"]
    assert later["photoId"] == task["photoId"]


@pytest.mark.usefixtures("background_paused")  # no reaper: the release gives the slot back
async def test_releasing_an_ended_lease_says_so(http: httpx.AsyncClient, db: Database) -> None:
    one_slot = ConsensusConfig(retirement=RetirementPolicy(cap=1), reliability=ReliabilityPrior(),
                               gold_rate=0.0)  # fmt: skip
    await add_open_photos(db, [0.3], config=one_slot)
    first, second = await token_for(db), await token_for(db)
    (task,) = (await graphql(http, NEXT_TASKS, first, count=1))["data"]["nextTasks"]
    past = (datetime.now(UTC) - timedelta(seconds=2)).replace(microsecond=0)  # BSON keeps ms
    await db.leases.update_one({"_id": task["leaseId"]}, {"$set": {"expires_at": past}})

    release = """mutation($id: ID!) { releaseTask(leaseId: $id) {
        __typename ... on LeaseExpired { expiredAt message } ... on LeaseNotFound { message } } }"""
    expired = (await graphql(http, release, first, id=task["leaseId"]))["data"]["releaseTask"]
    assert expired["__typename"] == "LeaseExpired"
    assert datetime.fromisoformat(expired["expiredAt"]) == past
    assert "already ended" in expired["message"]
    (again,) = (await graphql(http, NEXT_TASKS, second, count=1))["data"]["nextTasks"]
    assert again["photoId"] == task["photoId"]  # the slot came back without the reaper
    repeated = (await graphql(http, release, first, id=task["leaseId"]))["data"]["releaseTask"]
    assert repeated["__typename"] == "LeaseExpired"

    payload = {"leaseId": again["leaseId"], "answer": answer_for(again), "idempotencyKey": "k"}
    await graphql(http, SUBMIT, second, input=payload)
    answered = (await graphql(http, release, second, id=again["leaseId"]))["data"]["releaseTask"]
    assert answered == {"__typename": "LeaseNotFound",
                        "message": "no unanswered lease of yours has this id"}  # fmt: skip


async def test_a_released_lease_ended_when_it_was_released(
    http: httpx.AsyncClient, db: Database
) -> None:
    await add_open_photos(db, [0.3])
    token = await token_for(db)
    (task,) = (await graphql(http, NEXT_TASKS, token, count=1))["data"]["nextTasks"]
    release = """mutation($id: ID!) { releaseTask(leaseId: $id) {
        __typename ... on LeaseExpired { expiredAt } } }"""
    before = datetime.now(UTC)
    released = (await graphql(http, release, token, id=task["leaseId"]))["data"]["releaseTask"]
    after = datetime.now(UTC)
    assert released == {"__typename": "TaskReleased"}
    await asyncio.sleep(0.05)  # later calls must not report their own time as the end

    again = (await graphql(http, release, token, id=task["leaseId"]))["data"]["releaseTask"]
    payload = {"leaseId": task["leaseId"], "answer": answer_for(task), "idempotencyKey": "k"}
    submit = """mutation($input: SubmitAnswerInput!) { submitAnswer(input: $input) {
        __typename ... on LeaseExpired { expiredAt } } }"""
    late = (await graphql(http, submit, token, input=payload))["data"]["submitAnswer"]
    for ended in (again, late):
        assert ended["__typename"] == "LeaseExpired"
        ended_at = datetime.fromisoformat(ended["expiredAt"])
        assert before - timedelta(milliseconds=1) <= ended_at <= after  # BSON keeps ms


async def test_retired_photos_leave_the_queue(http: httpx.AsyncClient, db: Database) -> None:
    await add_open_photos(db, [0.3, 0.5])
    answered = 0
    for _ in range(8):  # more contributors than the answer cap
        token = await token_for(db)
        for task in (await graphql(http, NEXT_TASKS, token, count=5))["data"]["nextTasks"]:
            payload = {"leaseId": task["leaseId"], "answer": answer_for(task),
                       "idempotencyKey": task["leaseId"]}  # fmt: skip
            result = (await graphql(http, SUBMIT, token, input=payload))["data"]["submitAnswer"]
            assert result["__typename"] == "AnswerAccepted"
            answered += 1
    query = """{ stats { photos prelabelled unreadable modelFaulted retired answers queueDepth
                         meanAnswersPerRetired retiredByReason { reason photos } } }"""
    stats = (await graphql(http, query, await token_for(db)))["data"]["stats"]
    assert stats["photos"] == stats["prelabelled"] == stats["retired"] == 2
    assert stats["unreadable"] == stats["modelFaulted"] == 0
    assert stats["answers"] == answered
    assert stats["queueDepth"] == 0
    assert stats["meanAnswersPerRetired"] == answered / 2
    by_reason = {row["reason"]: row["photos"] for row in stats["retiredByReason"]}
    assert set(by_reason) == {"CONFIDENT", "CAP", "MODEL"}
    assert by_reason["CONFIDENT"] + by_reason["CAP"] == 2


async def test_a_contributor_holds_at_most_forty_leases_at_once(
    http: httpx.AsyncClient, db: Database
) -> None:
    await add_open_photos(db, [0.3] * 45)
    token = await token_for(db)
    held = []
    for count in (20, 15, 20):  # the third call gets only what fits under the bound
        held += (await graphql(http, NEXT_TASKS, token, count=count))["data"]["nextTasks"]
    assert len(held) == MAX_HELD_LEASES == 40

    refused = await graphql(http, NEXT_TASKS, token, count=1)
    assert refused["errors"][0]["extensions"]["code"] == "LIMIT_REACHED"
    assert "you hold 40 unanswered tasks" in refused["errors"][0]["message"]
    other = await token_for(db)  # the bound is per contributor
    assert len((await graphql(http, NEXT_TASKS, other, count=5))["data"]["nextTasks"]) == 5

    release = "mutation($id: ID!) { releaseTask(leaseId: $id) { __typename } }"
    await graphql(http, release, token, id=held[0]["leaseId"])
    payload = {"leaseId": held[1]["leaseId"], "answer": answer_for(held[1]), "idempotencyKey": "k"}
    await graphql(http, SUBMIT, token, input=payload)
    past = datetime.now(UTC) - timedelta(seconds=1)
    await db.leases.update_one({"_id": held[2]["leaseId"]}, {"$set": {"expires_at": past}})
    again = (await graphql(http, NEXT_TASKS, token, count=20))["data"]["nextTasks"]
    assert len(again) == 3  # released, answered and expired leases no longer count


async def test_a_busy_contributor_still_gets_the_photos_they_have_not_answered(
    http: httpx.AsyncClient, db: Database
) -> None:
    await add_open_photos(db, [0.3] * 40)  # one bucket
    token = await token_for(db)
    me = await graphql(http, "{ me { id } }", token)
    first_read = [photo["_id"] async for photo in db.photos.find({}, {"_id": 1}).limit(30)]
    # As if they had answered the 30 photos a bucket read meets first.
    await db.photos.update_many(
        {"_id": {"$in": first_read}}, {"$push": {"answerers": me["data"]["me"]["id"]}}
    )
    tasks = (await graphql(http, NEXT_TASKS, token, count=5))["data"]["nextTasks"]
    assert len(tasks) == 5
    assert not {task["photoId"] for task in tasks} & set(first_read)


async def test_retries_of_one_answer_sent_at_once_leave_the_photo_as_one_answer_would(
    http: httpx.AsyncClient, db: Database
) -> None:
    (photo_id,) = await add_open_photos(db, [0.3])
    token = await token_for(db)
    (task,) = (await graphql(http, NEXT_TASKS, token, count=1))["data"]["nextTasks"]
    payload = {"leaseId": task["leaseId"], "answer": answer_for(task), "idempotencyKey": "k"}

    results = await asyncio.gather(*(submit(http, token, payload) for _ in range(8)))

    assert {r["__typename"] for r in results} == {"AnswerAccepted"}
    assert len({(r["answerId"], r["answersStillNeeded"]) for r in results}) == 1
    photo = await db.photos.find_one({"_id": photo_id})
    assert photo is not None
    assert photo["answer_count"] == photo["consensus"]["answer_count"] == 1
    assert photo["still_needed"] == results[0]["answersStillNeeded"]
