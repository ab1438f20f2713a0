"""Gold photos: photos with a known label, mixed into tasks to measure contributors.

A gold photo leaves the pool for good (it never retires) and is served by its own rule:
each task is gold with probability `gold_rate`, doubled while the contributor has answered
fewer than `NEW_CONTRIBUTOR_GOLD` gold photos (their reliability is still a guess). Its
question is built like any other's, so a contributor cannot tell it apart; its answers
update the contributor's reliability and never its consensus.
"""

from __future__ import annotations

from api.database import Database, Document
from api.errors import TryAgain
from api.survey import consensus_store, store
from api.survey.queue import settle_change
from api.text import UNSAFE, unsafe_character

NEW_CONTRIBUTOR_GOLD = 5
_MAX_TRIES = 8  # answers arriving meanwhile make the compare-and-set fail
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


async def mark_gold(db: Database, photo_id: str, label_id: str) -> Document | None:
    """Make a pre-labelled photo gold with `label_id`; None if it is not pre-labelled.

    The label is stored first, so a gold photo always has one: a stop between the two writes
    leaves a photo still in the pool whose answers already grade against the label, and
    marking it again finishes the job. An answer landing meanwhile only means another try,
    and after `_MAX_TRIES` of them `TryAgain`.
    """
    before = await store.find_photo(db, photo_id)
    if before is None or not store.is_prelabelled(before):
        return None
    await consensus_store.set_gold_label(db, photo_id, label_id)
    for _ in range(_MAX_TRIES):
        photo = await store.mark_gold(db, before)
        if photo is not None:
            await settle_change(db, before=before, after=photo)
            return photo
        before = await store.find_photo(db, photo_id) or before  # photos are never deleted
    raise TryAgain(
        f"answers kept arriving on photo {photo_id} while it was marked gold; its gold label "
        "is stored: mark it gold again to finish"
    )
