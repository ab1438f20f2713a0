"""Survey fields on photos, loaded in one query per field for a whole page (DataLoaders)."""

from datetime import UTC, datetime

import httpx
import pytest

from api.database import Database
from api.prelabel.store import mark_model_fault, mark_unreadable
from api.survey.operations import NEXT_TASKS, SUBMIT
from tests.api.survey.builders import add_open_photos, answer_for, graphql, token_for

BARE_PAGE = "{ photos(first: 10) { edges { node { id } } } }"
PAGE = """
{ photos(first: 10) { edges { node {
    id answerCount
    predictions {
        modelVersion topK { label { id name } probability } uncertainty { leastConfidence }
    }
} } } }
"""


async def _finds(db: Database) -> int:
    status = await db.command("serverStatus")
    return int(status["opcounters"]["query"])


@pytest.mark.usefixtures("background_paused")  # the server counts every client's reads
async def test_photos_carry_predictions_and_answer_counts(
    http: httpx.AsyncClient, db: Database
) -> None:
    ids = await add_open_photos(db, [0.3, 0.6, 0.9, 0.2])
    token = await token_for(db)
    (task,) = (await graphql(http, NEXT_TASKS, token, count=1))["data"]["nextTasks"]
    payload = {"leaseId": task["leaseId"], "answer": answer_for(task), "idempotencyKey": "k"}
    await graphql(http, SUBMIT, token, input=payload)

    admin = await token_for(db, "admin", role="admin")
    before = await _finds(db)
    await graphql(http, BARE_PAGE, admin)
    bare = await _finds(db) - before
    before = await _finds(db)
    body = await graphql(http, PAGE, admin)
    finds = await _finds(db) - before

    nodes = {edge["node"]["id"]: edge["node"] for edge in body["data"]["photos"]["edges"]}
    assert set(nodes) == set(ids)
    assert nodes[task["photoId"]]["answerCount"] == 1
    assert sum(node["answerCount"] for node in nodes.values()) == 1
    for node in nodes.values():
        (prediction,) = node["predictions"]
        assert prediction["modelVersion"] == "test-model@1"
        assert prediction["topK"][0]["label"] == {"id": "n0", "name": "label zero"}
    # One query per loaded field for the whole page (2), not one per photo and field (8).
    assert finds - bare == 2, f"{finds - bare} more queries for {len(nodes)} photos"


async def test_a_photo_says_why_the_model_has_not_labelled_it(
    http: httpx.AsyncClient, db: Database
) -> None:
    labelled, unreadable, faulted = await add_open_photos(db, [0.3, 0.3, 0.3])
    await db.photos.update_many({"_id": {"$ne": labelled}}, {"$set": {"status": "new"}})
    now = datetime.now(UTC)
    await mark_unreadable(db, unreadable, reason="not an image", now=now)
    await mark_model_fault(db, faulted, model="ab" * 32, reason="NaN scores", now=now)

    query = "{ photos(first: 10) { edges { node { id status prelabelProblem } } } }"
    body = await graphql(http, query, await token_for(db, role="admin"))

    nodes = {e["node"]["id"]: e["node"] for e in body["data"]["photos"]["edges"]}
    assert nodes[labelled] == {"id": labelled, "status": "open", "prelabelProblem": None}
    assert nodes[unreadable]["prelabelProblem"] == "the photo cannot be read: not an image"
    assert nodes[faulted]["status"] == "new"
    assert nodes[faulted]["prelabelProblem"] == "the model abababababab failed on it: NaN scores"
