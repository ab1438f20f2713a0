"""`photosurvey repair` sets every count back to what the stored answers and photos imply."""

import httpx

from api.database import Database
from api.settings import Settings
from api.survey import store
from api.survey.operations import NEXT_TASKS, SUBMIT
from tests.api.survey.builders import add_open_photos, answer_for, graphql, token_for
from tests.api.survey.test_crash_consistency import assert_counts_match_answers
from tests.processes import run_photosurvey


async def test_repair_puts_counts_left_off_by_an_older_version_right_and_says_which(
    http: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    photo_ids = await add_open_photos(db, [0.3, 0.5, 0.7])
    token = await token_for(db)
    for task in (await graphql(http, NEXT_TASKS, token, count=3))["data"]["nextTasks"]:
        payload = {"leaseId": task["leaseId"], "answer": answer_for(task),
                   "idempotencyKey": task["leaseId"]}  # fmt: skip
        await graphql(http, SUBMIT, token, input=payload)
    # What a crash in an earlier version could leave: counts one short, a hint off.
    await db.counters.update_one({"_id": "service"}, {"$inc": {"answers": -1, "open": 2}})
    await db.contributors.update_one({}, {"$inc": {"answer_count": -1}})
    await db.photos.update_one({"_id": photo_ids[0]}, {"$inc": {"answer_count": -1}})
    await db.consensus.update_one({"_id": photo_ids[1]}, {"$inc": {"answer_count": 5}})
    bucket = next(iter(await store.read_bucket_counts(db)), 123)
    await db.queue.update_one({"_id": "buckets"}, {"$inc": {f"counts.{bucket}": 7}}, upsert=True)

    repaired = run_photosurvey(settings, "repair")
    assert repaired.returncode == 0, repaired.stderr
    lines = repaired.stdout.splitlines()
    assert "fixed stats answers: 2 -> 3" in lines
    assert "fixed stats open: 5 -> 3" in lines
    assert f"fixed answers of photo {photo_ids[0]}: 0 -> 1" in lines
    assert f"fixed answers in the consensus of photo {photo_ids[1]}: 6 -> 1" in lines
    assert any(line.startswith(f"fixed available photos in bucket {bucket}:") for line in lines)
    assert any(line.startswith("fixed answers of contributor ") for line in lines)
    assert lines[-1] == f"repair: {len(lines) - 1} counts fixed"

    stats = (await graphql(http, "{ stats { answers queueDepth } }", token))["data"]["stats"]
    answers = await db.answers.find({}, {"photo_id": 1, "contributor_id": 1}).to_list()
    await assert_counts_match_answers(db, answers, stats_answers=stats["answers"])
    assert stats["queueDepth"] == 3
    again = run_photosurvey(settings, "repair")
    assert again.stdout == "repair: every count is right\n"
