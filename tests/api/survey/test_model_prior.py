"""The model's prediction is each photo's prior, over the model's whole label space: a crowd
that says "no" to the model's label overrides it (the label space is not just the options)."""

import httpx

from api.database import ID_PAGE, Database
from api.survey import store
from api.survey.aggregating import model_prior
from api.survey.operations import NEXT_TASKS, SUBMIT
from tests.api.survey.builders import add_open_photos, graphql, token_for

PHOTO = """query($id: ID!) { photo(id: $id) { status consensus {
  label { id } confidence answerCount retirementReason } } }"""


async def _answer(http: httpx.AsyncClient, token: str, answer: dict[str, object]) -> None:
    (task,) = (await graphql(http, NEXT_TASKS, token, count=1))["data"]["nextTasks"]
    payload = {"leaseId": task["leaseId"], "answer": answer, "idempotencyKey": task["leaseId"]}
    result = (await graphql(http, SUBMIT, token, input=payload))["data"]["submitAnswer"]
    assert result["__typename"] == "AnswerAccepted", result


async def test_a_crowd_that_says_no_overrides_a_confident_model(
    http: httpx.AsyncClient, db: Database
) -> None:
    (photo_id,) = await add_open_photos(db, [0.9])  # VERIFY: "does it show label zero?"
    for name in ("a", "b", "c"):
        await _answer(http, await token_for(db, name), {"verify": "NO"})
    admin = await token_for(db, "admin", role="admin")
    photo = (await graphql(http, PHOTO, admin, id=photo_id))["data"]["photo"]
    assert photo["status"] == "open"  # "not label zero" names no label: it does not retire
    assert photo["consensus"]["answerCount"] == 3
    assert photo["consensus"]["confidence"] < 0.5 < 0.9  # the model's 0.9 is overridden


async def test_re_estimation_reads_every_answered_photos_prediction_page_by_page(
    db: Database,
) -> None:
    photo_ids = await add_open_photos(db, [0.6] * (ID_PAGE + 10))
    wanted = set(photo_ids[5:])  # more than a page of ids, not every photo
    found = {doc["_id"]: doc async for doc in store.predictions_of(db, wanted)}
    assert set(found) == wanted
    assert all(model_prior(doc) is not None for doc in found.values())
