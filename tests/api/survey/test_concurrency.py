"""Many contributors at once through two app instances on one database."""

import asyncio
import random
from collections import Counter
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.collection import AsyncCollection

from api.database import Database, Document
from api.settings import Settings
from api.survey import answering, store
from api.survey.operations import NEXT_TASKS, SUBMIT
from api.survey.store import lease_slots
from tests.api.survey.builders import add_open_photos, answer_for, graphql, token_for
from tests.conftest import serve

CONTRIBUTORS = 20
MARK_GOLD = """mutation($photo: ID!) { markGold(photoId: $photo, labelId: "n0") { __typename } }"""
RELEASE = """mutation($id: ID!) { releaseTask(leaseId: $id) { __typename } }"""
CALLS = 50


async def _session(
    client: httpx.AsyncClient, token: str, served: list[tuple[str, str]], results: Counter[str]
) -> None:
    tasks = (await graphql(client, NEXT_TASKS, token, count=3))["data"]["nextTasks"]
    served += [(token, task["photoId"]) for task in tasks]
    for task in tasks:
        payload: dict[str, Any] = {
            "leaseId": task["leaseId"],
            "answer": answer_for(task),
            "idempotencyKey": task["leaseId"],
        }
        body = await graphql(client, SUBMIT, token, input=payload)
        results[body["data"]["submitAnswer"]["__typename"]] += 1


async def test_concurrent_contributors_on_two_instances(settings: Settings, db: Database) -> None:
    photo_ids = await add_open_photos(db, [random.Random(i).random() for i in range(30)])
    tokens = [await token_for(db) for _ in range(CONTRIBUTORS)]
    served: list[tuple[str, str]] = []
    results: Counter[str] = Counter()
    async with serve(settings) as first, serve(settings) as second:
        clients = [first, second]
        await asyncio.gather(
            *(
                _session(clients[i % 2], tokens[i % CONTRIBUTORS], served, results)
                for i in range(CALLS)
            )
        )

    assert served, "nothing was served"
    assert len(served) == len(set(served)), "a contributor was served a photo twice"
    assert set(results) == {"AnswerAccepted"}
    answers = await db.answers.find({}, {"photo_id": 1, "contributor_id": 1}).to_list()
    assert len(answers) == results["AnswerAccepted"] == len(served)
    pairs = [(a["photo_id"], a["contributor_id"]) for a in answers]
    assert len(pairs) == len(set(pairs)), "duplicate answer"
    per_photo = Counter(a["photo_id"] for a in answers)
    assert max(per_photo.values()) <= settings.answer_cap, "a photo got answers past its cap"
    for photo in await db.photos.find({"_id": {"$in": photo_ids}}).to_list():
        assert photo["answer_count"] == per_photo.get(photo["_id"], 0)
        assert len(photo["holds"]) <= lease_slots(photo["still_needed"]), "leased beyond need"
        assert photo["free_slots"] == lease_slots(photo["still_needed"]) - len(photo["holds"])
    counts = await db.queue.find_one({"_id": "buckets"})
    assert counts is not None
    available = await db.photos.count_documents({"bucket": {"$ne": None}})
    assert sum(counts["counts"].values()) == available, "bucket counts drifted"


async def test_an_answer_outrun_on_its_photo_gives_try_again_and_its_repeat_finishes_it(
    http: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One try, lost to another contributor's real answer landing between this answer's read
    # of the photo and its write: the answer is stored, and repeating its key records it.
    monkeypatch.setattr(answering, "_MAX_RETRIES", 1)
    (photo_id,) = await add_open_photos(db, [0.3])
    first, second = await token_for(db), await token_for(db)
    tasks = [(await graphql(http, NEXT_TASKS, t, count=1))["data"]["nextTasks"][0]
             for t in (first, second)]  # fmt: skip
    payloads = [{"leaseId": task["leaseId"], "answer": answer_for(task), "idempotencyKey": "k"}
                for task in tasks]  # fmt: skip
    record, overtaken = store.record_answer, []

    async def overtake(db: Database, photo: Document, **kwargs: Any) -> Document | None:
        if not overtaken:  # the first call only (the overtaking answer's own comes through)
            overtaken.append(None)
            overtaken[0] = await graphql(http, SUBMIT, second, input=payloads[1])
        return await record(db, photo, **kwargs)

    monkeypatch.setattr(store, "record_answer", overtake)
    busy = await graphql(http, SUBMIT, first, input=payloads[0])

    assert overtaken[0]["data"]["submitAnswer"]["__typename"] == "AnswerAccepted"
    assert busy["errors"][0]["extensions"]["code"] == "TRY_AGAIN"
    assert "send it again with the same idempotencyKey" in busy["errors"][0]["message"]
    assert await db.answers.count_documents({"photo_id": photo_id}) == 2
    assert len((await db.photos.find_one({"_id": photo_id}) or {})["answerers"]) == 1

    # The attempt gave up: the repeat finishes it at once, not after waiting for it to end.
    monkeypatch.setattr(answering, "IN_FLIGHT_SECONDS", 3600.0)
    again = await asyncio.wait_for(graphql(http, SUBMIT, first, input=payloads[0]), timeout=30)
    assert again["data"]["submitAnswer"]["__typename"] == "AnswerAccepted"
    photo = await db.photos.find_one({"_id": photo_id})
    assert photo is not None
    assert (photo["answer_count"], len(photo["answerers"])) == (2, 2)
    assert await db.answers.count_documents({"photo_id": photo_id}) == 2


async def test_a_photo_marked_gold_as_its_retiring_answer_lands_is_counted_retired_once(
    http: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The second YES retires the photo; markGold lands right after that write, before the
    # answer has settled its counts. Each change must count once: retired, then un-retired.
    (photo_id,) = await add_open_photos(db, [0.9])  # a VERIFY question
    tokens = [await token_for(db) for _ in range(2)]
    admin = await token_for(db, role="admin")
    tasks = [(await graphql(http, NEXT_TASKS, t, count=1))["data"]["nextTasks"][0]
             for t in tokens]  # fmt: skip
    payloads = [{"leaseId": task["leaseId"], "answer": {"verify": "YES"}, "idempotencyKey": "k"}
                for task in tasks]  # fmt: skip
    first = await graphql(http, SUBMIT, tokens[0], input=payloads[0])
    assert first["data"]["submitAnswer"]["__typename"] == "AnswerAccepted"
    update_one, marked = AsyncCollection.update_one, []

    async def gold_right_after(collection: AsyncCollection[Document], query: Document,
                               update: Any, **kwargs: Any) -> Any:  # fmt: skip
        result = await update_one(collection, query, update, **kwargs)
        retiring = update.get("$set", {}).get("status") == "retired"
        if collection.name == "photos" and retiring and not marked:
            marked.append(await graphql(http, MARK_GOLD, admin, photo=photo_id))
        return result

    monkeypatch.setattr(AsyncCollection, "update_one", gold_right_after)
    second = await graphql(http, SUBMIT, tokens[1], input=payloads[1])
    monkeypatch.undo()

    assert second["data"]["submitAnswer"]["__typename"] == "AnswerAccepted"
    assert marked[0]["data"]["markGold"]["__typename"] == "GoldMarked"
    assert (await db.photos.find_one({"_id": photo_id}) or {})["status"] == "gold"
    counts = await db.counters.find_one({"_id": "service"}) or {}
    assert counts.get("retired", {}).get("CONFIDENT", 0) == 0
    assert counts.get("retired_answers", 0) == 0


async def test_a_lease_released_while_a_photo_is_marked_gold_leaves_it_in_no_bucket(
    http: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every slot held, so the photo is in no bucket; markGold reads it, then a release puts
    # it in one before markGold writes. A gold photo must end in no bucket, uncounted.
    (photo_id,) = await add_open_photos(db, [0.3])
    tokens = [await token_for(db) for _ in range(3)]
    tasks = [(await graphql(http, NEXT_TASKS, t, count=1))["data"]["nextTasks"][0]
             for t in tokens]  # fmt: skip
    mark_gold, released = store.mark_gold, []

    async def release_first(db: Database, photo: Document) -> Document | None:
        if not released:
            released.append(await graphql(http, RELEASE, tokens[0], id=tasks[0]["leaseId"]))
        return await mark_gold(db, photo)

    monkeypatch.setattr(store, "mark_gold", release_first)
    marked = await graphql(http, MARK_GOLD, await token_for(db, role="admin"), photo=photo_id)

    assert released[0]["data"]["releaseTask"]["__typename"] == "TaskReleased"
    assert marked["data"]["markGold"]["__typename"] == "GoldMarked"
    photo = await db.photos.find_one({"_id": photo_id})
    assert photo is not None
    assert (photo["status"], photo["bucket"]) == ("gold", None)
    assert sum((await store.read_bucket_counts(db)).values()) == 0
