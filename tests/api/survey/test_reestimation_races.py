"""A re-estimation running while answers arrive, or after an answer was cut short."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.database import Database, Document
from api.settings import Settings
from api.survey import consensus_store
from api.survey.aggregating import ConsensusConfig
from api.survey.operations import NEXT_TASKS, SUBMIT
from api.survey.reestimation import reestimate_now
from tests.api.survey.builders import add_open_photos, graphql, token_for


async def _lease(http: httpx.AsyncClient, token: str) -> dict[str, Any]:
    (task,) = (await graphql(http, NEXT_TASKS, token, count=1))["data"]["nextTasks"]
    return task


def _choose(task: dict[str, Any], label: str) -> dict[str, Any]:
    answer = {"choose": {"labelId": label}}
    return {"leaseId": task["leaseId"], "answer": answer, "idempotencyKey": task["leaseId"]}


@pytest.mark.parametrize("read", ["consensus_documents", "answer_votes"])
async def test_an_answer_counted_during_a_re_estimations_reads_keeps_its_evidence(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    read: str,
) -> None:
    # Two answers say n0; a third, saying n2, is counted just as the re-estimation starts
    # one of its two reads (the photos' evidence, then the votes).
    (photo_id,) = await add_open_photos(db, [0.3])  # a CHOOSE question over n0, n1, n2
    tokens = [await token_for(db) for _ in range(3)]
    tasks = [await _lease(http, token) for token in tokens]
    for token, task in zip(tokens[:2], tasks[:2], strict=True):
        await graphql(http, SUBMIT, token, input=_choose(task, "n0"))
    original, landed = getattr(consensus_store, read), []

    async def answer_first(db: Database) -> AsyncIterator[Document]:
        if not landed:
            landed.append(await graphql(http, SUBMIT, tokens[2], input=_choose(tasks[2], "n2")))
        async for doc in original(db):
            yield doc

    monkeypatch.setattr(consensus_store, read, answer_first)
    await reestimate_now(db, ConsensusConfig.from_settings(settings))

    assert landed[0]["data"]["submitAnswer"]["__typename"] == "AnswerAccepted"
    state = await consensus_store.read_photo_state(db, photo_id)
    assert state.answer_count == 3
    assert state.log_odds["n2"] > state.log_odds["n1"] + 0.5, state.log_odds  # n1: no vote
