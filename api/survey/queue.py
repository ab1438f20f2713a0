"""A photo's queue state, and every change to it. Plain Python on plain data.

The queue fields of a photo document (the photos domain writes the rest at insert):
``status`` (`PhotoStatus`), ``prediction`` (summary of the model's), ``score``, ``draw``,
``priority`` (see `api.survey.selection`), ``answer_count``, ``still_needed``, ``holds``
(the photo's running leases), ``free_slots`` (lease slots left: `lease_slots` of
``still_needed`` less the holds), ``answerers``, ``skipped_by`` (contributors who gave a
lease on it back: they are not offered it again), ``bucket`` (set only while the photo is
*available*: open with a free slot), ``retirement_reason``, ``retired_at`` and
``consensus`` (label, confidence, method, answer count).

Each change is a pure function from the state as read to a `Change`: the update, the
conditions that guard it, the counts that follow it (open and retired photos, written in
the same transaction) and the bucket it moves the photo between (the bucket counts are
hints for selection, written after).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from api.database import Document
from api.survey.selection import bucket_of

GOLD_SLOTS = 1_000_000
"""``still_needed`` of a gold photo: it never retires."""
MAX_CONCURRENT_LEASES = 3
"""Leases one photo may have at once, even when it needs more answers than that (gold
photos too): answers arriving one after another let consensus stop asking as soon as it is
confident."""


class PhotoStatus(enum.StrEnum):
    NEW = "new"  # imported, waiting for the model
    OPEN = "open"  # pre-labelled, taking answers
    RETIRED = "retired"  # labelled: no more answers
    GOLD = "gold"  # known label, grading contributors; never retires
    UNREADABLE = "unreadable"  # the model could not read it


def lease_slots(still_needed: int) -> int:
    """Leases a photo may have at once: what it still needs, at most `MAX_CONCURRENT_LEASES`."""
    return max(min(still_needed, MAX_CONCURRENT_LEASES), 0)


@dataclass(frozen=True)
class Hold:
    """A running lease, as its photo keeps it."""

    lease_id: str
    contributor_id: str
    expires_at: datetime

    def to_document(self) -> Document:
        return {
            "lease_id": self.lease_id,
            "contributor_id": self.contributor_id,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Hold:
        return cls(doc["lease_id"], doc["contributor_id"], doc["expires_at"])


@dataclass(frozen=True)
class QueueState:
    """A photo's queue fields as read."""

    photo_id: str
    status: PhotoStatus
    priority: float = 0.0
    still_needed: int = 0
    answer_count: int = 0
    free_slots: int = 0
    bucket: int | None = None
    holds: tuple[Hold, ...] = ()
    answerers: frozenset[str] = frozenset()
    skipped_by: frozenset[str] = frozenset()
    retirement_reason: str | None = None
    score: float = 0.0
    prediction: Mapping[str, Any] | None = None

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> QueueState:
        return cls(
            photo_id=doc["_id"],
            status=PhotoStatus(doc.get("status", PhotoStatus.NEW)),
            priority=float(doc.get("priority", 0.0)),
            still_needed=int(doc.get("still_needed", 0)),
            answer_count=int(doc.get("answer_count", 0)),
            free_slots=int(doc.get("free_slots", 0)),
            bucket=doc.get("bucket"),
            holds=tuple(Hold.from_document(hold) for hold in doc.get("holds", ())),
            answerers=frozenset(doc.get("answerers", ())),
            skipped_by=frozenset(doc.get("skipped_by", ())),
            retirement_reason=doc.get("retirement_reason"),
            score=float(doc.get("score", 0.0)),
            prediction=doc.get("prediction"),
        )

    def takeable_by(self, contributor_id: str) -> bool:
        """Whether the photo may be leased to the contributor now (gold photos included)."""
        holders = {hold.contributor_id for hold in self.holds}
        return (
            self.status in (PhotoStatus.OPEN, PhotoStatus.GOLD)
            and self.free_slots > 0
            and contributor_id not in self.answerers | self.skipped_by | holders
        )

    def hold(self, lease_id: str) -> Hold | None:
        return next((hold for hold in self.holds if hold.lease_id == lease_id), None)


def available_bucket(status: PhotoStatus, *, free_slots: int, priority: float) -> int | None:
    """The bucket an open photo with a free lease slot belongs in; None otherwise (gold
    photos are served by their own rule, never from the buckets)."""
    if status is not PhotoStatus.OPEN or free_slots <= 0:
        return None
    return bucket_of(priority)


@dataclass(frozen=True)
class Change:
    """One change of a photo's queue state, to be written atomically."""

    photo_id: str
    expect: Document
    """Conditions the photo must still meet (what the change read)."""
    update: Document
    bucket_from: int | None
    bucket_to: int | None
    counts: dict[str, int] = field(default_factory=dict)
    """Service counts that follow the change (``open``, ``retired.<reason>``...)."""
    open_answers: dict[str, int] = field(default_factory=dict)
    """How the change moves each contributor's count of answers on photos still open
    (``open_answers``: what `api.survey.tasks` knows a busy contributor cannot take)."""

    @property
    def filter(self) -> Document:
        return {"_id": self.photo_id, **self.expect}


def _guard(state: QueueState) -> Document:
    """What every change but a claim expects: the status and answers it read."""
    return {"status": state.status.value, "answer_count": state.answer_count}


def claim(state: QueueState, hold: Hold) -> Change:
    """Lease one slot of the photo to `hold`'s contributor. Guarded by the slots and bucket
    read, and by the contributor having neither answered, skipped nor held it."""
    free_slots = state.free_slots - 1
    bucket = state.bucket if free_slots > 0 else None
    contributor = hold.contributor_id
    return Change(
        state.photo_id,
        expect={
            "status": state.status.value,
            "free_slots": state.free_slots,
            "bucket": state.bucket,
            "answerers": {"$ne": contributor},
            "skipped_by": {"$ne": contributor},
            "holds.contributor_id": {"$ne": contributor},
        },
        update={
            "$push": {"holds": hold.to_document()},
            "$inc": {"free_slots": -1},
            "$set": {"bucket": bucket},
        },
        bucket_from=state.bucket,
        bucket_to=bucket,
    )


def end_hold(state: QueueState, lease_id: str, *, skipped_by: str | None = None) -> Change | None:
    """Free the slot of a lease that ended unanswered (released, expired, or given back past
    the bound); None if the photo holds no such lease. A contributor who gave it back
    (`skipped_by`) is not offered the photo again."""
    if state.hold(lease_id) is None:
        return None
    free_slots = state.free_slots + 1
    bucket = available_bucket(state.status, free_slots=free_slots, priority=state.priority)
    update: Document = {
        "$pull": {"holds": {"lease_id": lease_id}},
        "$inc": {"free_slots": 1},
        "$set": {"bucket": bucket},
    }
    if skipped_by is not None:
        update["$addToSet"] = {"skipped_by": skipped_by}
    expect = _guard(state) | {"holds.lease_id": lease_id}
    return Change(state.photo_id, expect, update, bucket_from=state.bucket, bucket_to=bucket)


@dataclass(frozen=True)
class Settled:
    """What consensus decides about a photo (`api.survey.aggregating.settled`)."""

    status: PhotoStatus
    still_needed: int
    priority: float
    retirement_reason: str | None = None
    consensus: Document | None = None


def settle(
    state: QueueState,
    settled: Settled,
    *,
    now: datetime,
    answered: Hold | None = None,
) -> Change:
    """Set the photo's state from its consensus: after an answer (`answered`: the lease's
    hold, whose slot the answer frees), a rescoring, or marking it gold."""
    holds = len(state.holds) - (answered is not None and state.hold(answered.lease_id) is not None)
    free_slots = lease_slots(settled.still_needed) - holds
    bucket = available_bucket(settled.status, free_slots=free_slots, priority=settled.priority)
    fields: Document = {
        "status": settled.status.value,
        "still_needed": settled.still_needed,
        "priority": settled.priority,
        "retirement_reason": settled.retirement_reason,
        "free_slots": free_slots,
        "bucket": bucket,
    }
    if settled.consensus is not None:
        fields["consensus"] = settled.consensus
    if settled.status is PhotoStatus.RETIRED and state.status is not PhotoStatus.RETIRED:
        fields["retired_at"] = now
    update: Document = {"$set": fields}
    answers = state.answer_count
    if answered is not None:
        update |= {
            "$push": {"answerers": answered.contributor_id},
            "$pull": {"holds": {"lease_id": answered.lease_id}},
            "$inc": {"answer_count": 1},
        }
        answers += 1
    counts = _counts(state, settled, answers_after=answers)
    open_answers = _open_answers(state, settled, answered=answered)
    return Change(state.photo_id, _guard(state), update, state.bucket, bucket, counts, open_answers)


def _open_answers(state: QueueState, after: Settled, *, answered: Hold | None) -> dict[str, int]:
    """Answers on open photos, per contributor: the photo's answerers count while it is
    open (a new answerer from its answer on, if it stays open)."""
    was_open = state.status is PhotoStatus.OPEN
    is_open = after.status is PhotoStatus.OPEN
    moved = {} if was_open == is_open else dict.fromkeys(state.answerers, 1 if is_open else -1)
    if answered is not None and is_open:
        moved[answered.contributor_id] = moved.get(answered.contributor_id, 0) + 1
    return moved


def open_photo(photo_id: str, fields: Document) -> Change:
    """A ``new`` photo's first queue state (`api.survey.opening.queue_fields`); guarded on
    no model having failed on it meanwhile (a worker whose claim had lapsed)."""
    status = PhotoStatus(fields["status"])
    bucket = available_bucket(status, free_slots=fields["free_slots"], priority=fields["priority"])
    before = QueueState(photo_id, PhotoStatus.NEW)
    settled = Settled(status, fields["still_needed"], fields["priority"],
                      fields.get("retirement_reason"))  # fmt: skip
    return Change(
        photo_id,
        expect={"status": PhotoStatus.NEW.value, "model_fault.model": None},
        update={"$set": fields | {"bucket": bucket}},
        bucket_from=None,
        bucket_to=bucket,
        counts=_counts(before, settled, answers_after=0) | {"prelabelled": 1},
    )


def _counts(before: QueueState, after: Settled, *, answers_after: int) -> dict[str, int]:
    """How the open and retired counts (and the answers of retired photos) move."""
    counts: dict[str, int] = {}
    for status, reason, answers, sign in (
        (before.status, before.retirement_reason, before.answer_count, -1),
        (after.status, after.retirement_reason, answers_after, 1),
    ):
        if status is PhotoStatus.OPEN:
            counts["open"] = counts.get("open", 0) + sign
        elif status is PhotoStatus.RETIRED:
            counts[f"retired.{reason}"] = counts.get(f"retired.{reason}", 0) + sign
            counts["retired_answers"] = counts.get("retired_answers", 0) + sign * answers
    return {name: n for name, n in counts.items() if n}
