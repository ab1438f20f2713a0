"""A pre-labelled photo enters the survey: its prediction is stored and it gets its place
in the queue, or is labelled by the model outright when auto-accept allows."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from api import counters
from api.consensus import ConsensusMethod, RetirementReason
from api.database import Database, Document, Session, in_transaction, write_all
from api.survey import queue, store
from api.survey.aggregating import ConsensusConfig
from api.survey.queue import PhotoStatus, lease_slots
from api.survey.selection import Policy, auto_accepts, score


async def open_photo(
    db: Database,
    photo_id: str,
    prediction: Mapping[str, Any],
    *,
    policy: Policy,
    config: ConsensusConfig,
    rng: random.Random,
    now: datetime,
) -> bool:
    """Store `prediction` (``Prediction.to_dict()`` of `inference`) and open the photo (or
    retire it as the model's label, when auto-accept allows), in one transaction with its
    counts. False when it was not ``new`` (another worker got there), or a model failed on
    it meanwhile (a worker whose claim had lapsed): it stays counted as a fault, and comes
    back with the next model (`retry_model_faults`)."""
    await store.save_prediction(db, {"photo_id": photo_id, "created_at": now, **prediction})
    fields = queue_fields(prediction, policy=policy, config=config, draw=rng.random(), now=now)
    change = queue.open_photo(photo_id, fields)

    async def attempt(session: Session) -> bool:
        photo = await store.find_photo(db, photo_id, session=session)
        if photo is None or photo.get("status") != PhotoStatus.NEW.value:
            return False
        if (photo.get("model_fault") or {}).get("model") is not None:
            return False
        writes = [store.change_write(db, change), counters.count_write(db, change.counts, rng=rng)]
        await write_all(session, writes, guarded=[0])
        return True

    opened = await in_transaction(db, attempt)
    if opened:
        await store.count_moves(db, [change])
    return opened


def queue_fields(
    prediction: Mapping[str, Any],
    *,
    policy: Policy,
    config: ConsensusConfig,
    draw: float,
    now: datetime,
) -> Document:
    """A freshly pre-labelled photo's queue state (see `api.survey.store`)."""
    summary = {
        "model_version": prediction["model_version"],
        "top_k": list(prediction["top_k"]),
        "label_count": prediction["label_count"],
        "uncertainty": dict(prediction["uncertainty"]),
    }
    photo_score = score(policy, uncertainty=summary["uncertainty"], draw=draw)
    fields: Document = {
        "prediction": summary,
        "score": photo_score,
        "priority": photo_score,
        "draw": draw,
        "answer_count": 0,
        "still_needed": config.retirement.cap,  # what an unanswered photo may need
        "free_slots": lease_slots(config.retirement.cap),
        "holds": [],
        "answerers": [],
        "skipped_by": [],
        "status": PhotoStatus.OPEN.value,
        "prelabelled_at": now,
    }
    top = summary["top_k"][0] if summary["top_k"] else None
    if top is not None and auto_accepts(policy, top_probability=top["probability"]):
        fields |= {
            "status": PhotoStatus.RETIRED.value,
            "retirement_reason": RetirementReason.MODEL.value,
            "retired_at": now,
            "still_needed": 0,
            "free_slots": 0,
            "consensus": {
                "label": {"id": top["label_id"], "name": top["name"]},
                "confidence": top["probability"],
                "method": ConsensusMethod.MODEL.value,
                "answer_count": 0,
            },
        }
    return fields
