"""Taking an answer safely: once per photo and contributor, idempotent by key, all or nothing.

An answer is one transaction: it ends the lease (which must still run: of a release and an
answer on one lease exactly one wins), stores the answer with its result, adds its
evidence to the photo's consensus and its counts to the contributor, sets the photo's
queue state, and counts it in the service's counts. A crash, a conflict or a refusal
leaves none of it, so every count always equals what the stored answers imply; a replay
of the same key returns the stored result.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime

from pymongo.errors import ClientBulkWriteException

from api import counters
from api.consensus import updated_photo
from api.database import Contended, Database, Document, Session, Write, in_transaction, write_all
from api.errors import TryAgain
from api.survey import consensus_store, queue, store
from api.survey.aggregating import (
    ConsensusConfig,
    answer_evidence,
    count_answer,
    settled,
)
from api.survey.questions import Answer, Question, invalid_reason
from api.survey.queue import Change, Hold, QueueState


@dataclass(frozen=True)
class Accepted:
    answer_id: str
    photo_id: str
    still_needed: int


@dataclass(frozen=True)
class LeaseExpired:
    lease_id: str
    expired_at: datetime


@dataclass(frozen=True)
class LeaseNotFound:
    lease_id: str


@dataclass(frozen=True)
class AlreadyAnswered:
    photo_id: str


@dataclass(frozen=True)
class KeyReused:
    idempotency_key: str


@dataclass(frozen=True)
class Invalid:
    reason: str


Outcome = Accepted | LeaseExpired | LeaseNotFound | AlreadyAnswered | KeyReused | Invalid


@dataclass(frozen=True)
class Submission:
    contributor_id: str
    lease_id: str
    answer: Answer
    idempotency_key: str

    @property
    def fingerprint(self) -> str:
        """What a replay must repeat exactly to count as the same request."""
        payload = {"lease_id": self.lease_id, "answer": self.answer.to_document()}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class _Clash(Exception):
    """The answer's insert met a unique index: `index` names it."""

    def __init__(self, index: str) -> None:
        self.index = index


async def submit_answer(
    db: Database,
    submission: Submission,
    *,
    config: ConsensusConfig,
    now: datetime,
    rng: random.Random,
) -> Outcome:
    estimates = await consensus_store.read_estimates(db)

    async def attempt(session: Session) -> tuple[Outcome, Change | None]:
        return await _answer(db, session, submission, config=config, estimates=estimates,
                             now=now, rng=rng)  # fmt: skip

    for _ in range(2):  # the second time only after the same key was stored meanwhile
        replayed = await _replay(db, submission)
        if replayed is not None:
            return replayed
        try:
            outcome, change = await in_transaction(db, attempt)
        except _Clash as clash:
            if clash.index == "idempotency":
                continue
            lease = await store.find_lease(db, submission.lease_id)
            return AlreadyAnswered(lease["photo_id"] if lease else "")
        except Contended:
            raise TryAgain(
                "other answers kept changing this photo while yours was recorded; nothing is "
                "stored yet: send it again with the same idempotencyKey"
            ) from None
        if isinstance(outcome, AlreadyAnswered):  # perhaps by this very key, meanwhile
            return await _replay(db, submission) or outcome
        await store.count_moves(db, [change] if change else [])
        return outcome
    raise TryAgain(  # pragma: no cover - a stored answer was deleted in between
        f"idempotency key {submission.idempotency_key!r} kept clashing with another request "
        "sending it: send the answer again with the same key"
    )


async def _replay(db: Database, submission: Submission) -> Outcome | None:
    earlier = await store.find_answer_by_key(
        db, contributor_id=submission.contributor_id, idempotency_key=submission.idempotency_key
    )
    if earlier is None:
        return None
    if earlier["fingerprint"] != submission.fingerprint:
        return KeyReused(submission.idempotency_key)
    still_needed = (earlier.get("result") or {}).get("still_needed", 0)
    return Accepted(earlier["_id"], earlier["photo_id"], still_needed)


async def _answer(
    db: Database,
    session: Session,
    submission: Submission,
    *,
    config: ConsensusConfig,
    estimates: consensus_store.Estimates,
    now: datetime,
    rng: random.Random,
) -> tuple[Outcome, Change | None]:
    """Within a transaction: refuse the answer, or write it and all it changes."""
    lease = await store.find_lease(db, submission.lease_id, session=session)
    refused = _refusal(lease, submission, now=now)
    if refused is not None or lease is None:
        return refused or LeaseNotFound(submission.lease_id), None
    photo_id, contributor_id = lease["photo_id"], submission.contributor_id
    photo = await store.find_photo(db, photo_id, session=session)
    if photo is None:
        raise LookupError(f"lease {lease['_id']} names a missing photo {photo_id}")
    evidence = answer_evidence(Question.from_document(lease["question"]),
                               submission.answer.to_document(), photo)  # fmt: skip
    state = await consensus_store.read_photo_state(db, photo_id, session=session)
    contributor = await consensus_store.read_contributor_state(db, contributor_id, session=session)
    update = count_answer(state, contributor, evidence, photo, config=config, estimates=estimates)
    position, need = settled(
        photo, updated_photo(state, update), config=config, estimates=estimates
    )
    change = queue.settle(
        QueueState.from_document(photo),
        position,
        now=now,
        answered=Hold(lease["_id"], contributor_id, lease["expires_at"]),
    )
    answer = _answer_document(submission, lease, now=now) | {
        "votes": [asdict(vote) for vote in evidence.votes],
        "result": {"still_needed": need.answers_still_needed},
    }
    writes: list[Write] = [
        store.end_lease_write(db, lease["_id"], state="answered", now=now),
        store.change_write(db, change),
        store.insert_answer_write(db, answer),
        consensus_store.add_photo_evidence_write(db, photo_id, update.photo_inc()),
        consensus_store.add_contributor_counts_write(
            db, contributor_id, update.contributor_inc() | {"answer_count": 1}
        ),
        counters.count_write(db, change.counts | {"answers": 1}, rng=rng),
        *store.open_answers_writes(db, change),
    ]
    try:
        await write_all(session, writes, guarded=[0, 1])
    except ClientBulkWriteException as exc:
        raise _clash(exc) from exc
    return Accepted(answer["_id"], photo_id, need.answers_still_needed), change


def _clash(exc: ClientBulkWriteException) -> Exception:
    """The unique index an insert met, as `_Clash`; any other failure as it is."""
    errors: list[Document] = list(exc.details.get("writeErrors") or [])
    for error in errors:
        if error.get("code") == 11000:
            pattern = error.get("keyPattern") or {}
            text = str(error.get("errmsg", ""))
            clashed = "idempotency_key" in pattern or "idempotency" in text
            return _Clash("idempotency" if clashed else "one_per_photo")
    return exc


def _refusal(lease: Document | None, submission: Submission, *, now: datetime) -> Outcome | None:
    if lease is None or lease["contributor_id"] != submission.contributor_id:
        return LeaseNotFound(submission.lease_id)
    if lease["state"] == "answered":
        return AlreadyAnswered(lease["photo_id"])
    ended = store.Lease.from_document(lease).ended(now=now)
    if ended is not None:  # released, or expired
        return LeaseExpired(lease["_id"], expired_at=ended)
    reason = invalid_reason(Question.from_document(lease["question"]), submission.answer)
    return None if reason is None else Invalid(reason)


def _answer_document(submission: Submission, lease: Document, *, now: datetime) -> Document:
    return {
        "_id": uuid.uuid4().hex,
        "photo_id": lease["photo_id"],
        "lease_id": lease["_id"],
        "contributor_id": submission.contributor_id,
        "question": lease["question"],
        "value": submission.answer.to_document(),
        "idempotency_key": submission.idempotency_key,
        "fingerprint": submission.fingerprint,
        "created_at": now,
    }
