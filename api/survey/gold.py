"""Gold photos: photos with a known label, mixed into tasks to measure contributors.

A gold photo leaves the pool for good (it never retires) and is served by its own rule:
each task is gold with probability `gold_rate`, doubled while the contributor has answered
fewer than `NEW_CONTRIBUTOR_GOLD` gold photos (their reliability is still a guess). Its
question is built like any other's, so a contributor cannot tell it apart; its answers
update the contributor's reliability and never its consensus.
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Mapping
from datetime import datetime

from api import counters
from api.database import Contended, Database, Document, Session, Write, in_transaction, write_all
from api.errors import TryAgain
from api.models import store as model_store
from api.survey import consensus_store, queue, store
from api.survey.queue import GOLD_SLOTS, Change, PhotoStatus, QueueState, Settled
from api.text import UNSAFE, unsafe_character

NEW_CONTRIBUTOR_GOLD = 5
MAX_LABEL_ID_LENGTH = 200


def gold_share(gold_rate: float, *, gold_answers: int) -> float:
    """The chance that one task is a gold photo for this contributor."""
    boost = 2.0 if gold_answers < NEW_CONTRIBUTOR_GOLD else 1.0
    return min(gold_rate * boost, 1.0)


def label_id_problem(label_id: str) -> str | None:
    """Why `label_id` cannot be a gold label, or None."""
    if not label_id.strip():
        return "the label id must not be empty"
    if len(label_id) > MAX_LABEL_ID_LENGTH:
        return f"the label id is {len(label_id)} characters; at most {MAX_LABEL_ID_LENGTH}"
    if unsafe_character(label_id) is not None:
        return f"the label id must not contain {UNSAFE}"
    return None


class UnknownLabel(ValueError):
    """The label is not one of the model's that pre-labelled the photo (the message names
    the nearest)."""


async def label_problem(db: Database, photo: Document, label_id: str) -> str | None:
    """Why `label_id` cannot be the photo's gold label: it is not a label of the model that
    pre-labelled the photo (of the photo's own predicted labels, when that model's label
    set was never recorded); None when it is."""
    prediction = photo.get("prediction") or {}
    version = prediction.get("model_version", "?")
    labels = await model_store.label_set(db, version)
    whose = f"model {version}, which pre-labelled the photo"
    if labels is None:
        labels = {score["label_id"]: score["name"] for score in prediction.get("top_k", [])}
        whose = f"the labels model {version} predicted for the photo (its label set is unknown)"
    if label_id in labels:
        return None
    return f"{label_id!r} is not a label of {whose}; {_nearest(label_id, labels)}"


def _nearest(label_id: str, labels: Mapping[str, str]) -> str:
    by_name = {name.casefold(): id_ for id_, name in labels.items()}
    words = [*labels, *by_name]
    close = difflib.get_close_matches(label_id.casefold(), words, n=1, cutoff=0.5)
    if not close:
        return "no label is near it (label ids look like n02099601)"
    nearest = by_name.get(close[0], close[0])
    return f"the nearest is {nearest!r} ({labels[nearest]})"


async def mark_gold(
    db: Database, photo_id: str, label_id: str, *, now: datetime, rng: random.Random
) -> Document | None:
    """Make a pre-labelled photo gold with `label_id`, in one transaction; the photo as it
    was, or None if it is not pre-labelled. Raises `UnknownLabel` for a label that is not
    the model's, and `TryAgain` when answers kept landing on it meanwhile (nothing is
    changed then)."""
    photo = await store.find_photo(db, photo_id)
    if photo is None or not store.is_prelabelled(QueueState.from_document(photo).status):
        return None
    problem = await label_problem(db, photo, label_id)
    if problem is not None:
        raise UnknownLabel(problem)

    async def attempt(session: Session) -> tuple[Document | None, Change | None]:
        photo = await store.find_photo(db, photo_id, session=session)
        if photo is None or not store.is_prelabelled(QueueState.from_document(photo).status):
            return None, None
        made_gold = Settled(PhotoStatus.GOLD, still_needed=GOLD_SLOTS, priority=0.0)
        change = queue.settle(QueueState.from_document(photo), made_gold, now=now)
        writes: list[Write] = [
            store.change_write(db, change),
            consensus_store.set_gold_label_write(db, photo_id, label_id),
            *store.open_answers_writes(db, change),
        ]
        if change.counts:
            writes.append(counters.count_write(db, change.counts, rng=rng))
        await write_all(session, writes, guarded=[0])
        return photo, change

    try:
        photo, change = await in_transaction(db, attempt)
    except Contended:
        raise TryAgain(
            f"answers kept arriving on photo {photo_id} while it was marked gold; nothing is "
            "changed: mark it gold again"
        ) from None
    await store.count_moves(db, [change] if change else [])
    return photo
