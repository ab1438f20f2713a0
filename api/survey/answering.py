"""Taking an answer safely: once per photo and contributor, idempotent by key.

Order of writes, chosen so that a crash at any point is finished by replaying the same key,
and nothing is counted twice: the answer document (unique indexes decide races), then its
counting into consensus and the answer counts (at most once: `aggregate_answer`; a crash
just after its claim leaves the answer out of the counts), the photo's state (guarded by
``answerers``), the lease (guarded by its state), and last the stored result that a replay
returns.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from api.database import Database, Document
from api.errors import TryAgain
from api.survey import consensus_store, store
from api.survey.aggregating import ConsensusConfig, aggregate_answer, photo_demand, queue_state
from api.survey.questions import Answer, Question, invalid_reason
from api.survey.queue import settle_change

_MAX_RETRIES = 8
# How long a retry waits for the first attempt at the same answer before finishing it itself
# (that attempt crashed): far above the few database round trips an answer takes.
IN_FLIGHT_SECONDS = 10.0
_POLL_SECONDS = 0.05


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


async def submit_answer(
    db: Database, submission: Submission, *, config: ConsensusConfig, now: datetime
) -> Outcome:
    for _ in range(_MAX_RETRIES):
        replayed = await _replay(db, submission, config=config)
        if replayed is not None:
            return replayed
        lease = await store.find_lease(db, submission.lease_id)
        refused = _refusal(lease, submission, now=now)
        if refused is not None or lease is None:
            return refused or LeaseNotFound(submission.lease_id)
        answer = _answer_document(submission, lease, now=now)
        clash = await store.insert_answer(db, answer)
        if clash == "one_per_photo":
            return AlreadyAnswered(lease["photo_id"])
        if clash is None:
            return await _complete(db, answer, config=config)
        # Same key inserted concurrently: go round and replay it.
    raise TryAgain(  # pragma: no cover - needs a livelock
        f"idempotency key {submission.idempotency_key!r} kept clashing with another request "
        "sending it: send the answer again with the same key"
    )


async def _replay(
    db: Database, submission: Submission, *, config: ConsensusConfig
) -> Outcome | None:
    earlier = await store.find_answer_by_key(
        db, contributor_id=submission.contributor_id, idempotency_key=submission.idempotency_key
    )
    if earlier is None:
        return None
    if earlier["fingerprint"] != submission.fingerprint:
        return KeyReused(submission.idempotency_key)
    if earlier.get("result") is None:  # the first attempt is still running, or stopped
        earlier = await _wait_for_result(db, earlier)
    if earlier.get("result") is None:  # it stopped half-way: finish it
        return await _complete(db, earlier, config=config)
    return Accepted(earlier["_id"], earlier["photo_id"], earlier["result"]["still_needed"])


async def _wait_for_result(db: Database, answer: Document) -> Document:
    """The answer once its first attempt has stored a result, or as it is once that attempt
    has had `IN_FLIGHT_SECONDS`: a retry sent while it runs must not complete it a second
    time alongside, from a consensus read before the answer's evidence was added. An attempt
    that gave up (`TryAgain`) is not waited for."""
    deadline = answer["created_at"] + timedelta(seconds=IN_FLIGHT_SECONDS)
    while not _finished(answer) and datetime.now(UTC) < deadline:
        await asyncio.sleep(_POLL_SECONDS)
        answer = (
            await store.find_answer_by_key(
                db,
                contributor_id=answer["contributor_id"],
                idempotency_key=answer["idempotency_key"],
            )
            or answer
        )
    return answer


def _finished(answer: Document) -> bool:
    """Whether the answer's first attempt is over: it stored a result, or gave up."""
    return answer.get("result") is not None or bool(answer.get("given_up"))


def _refusal(lease: Document | None, submission: Submission, *, now: datetime) -> Outcome | None:
    if lease is None or lease["contributor_id"] != submission.contributor_id:
        return LeaseNotFound(submission.lease_id)
    if lease["state"] == "answered":
        return AlreadyAnswered(lease["photo_id"])
    ended = store.lease_ended_at(lease, now=now)
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
        "result": None,
    }


async def _complete(db: Database, answer: Document, *, config: ConsensusConfig) -> Accepted:
    photo = await _photo_of(db, answer)
    estimates = await consensus_store.read_estimates(db)
    await aggregate_answer(db, answer, photo, config=config, estimates=estimates)
    still_needed = await _record_on_photo(db, answer, photo, config=config, estimates=estimates)
    await store.set_lease_state(
        db, answer["lease_id"], state="answered", expect="active", now=datetime.now(UTC)
    )
    await store.set_answer_result(db, answer["_id"], result={"still_needed": still_needed})
    return Accepted(answer["_id"], answer["photo_id"], still_needed)


async def _photo_of(db: Database, answer: Document) -> Document:
    photo = await store.find_photo(db, answer["photo_id"])
    if photo is None:
        raise LookupError(f"answer {answer['_id']} names a missing photo")
    return photo


async def _record_on_photo(
    db: Database,
    answer: Document,
    photo: Document,
    *,
    config: ConsensusConfig,
    estimates: consensus_store.Estimates,
) -> int:
    """Set the photo's queue state after `answer` (compare-and-set, retried from a fresh
    read of the photo when another answer changed it first)."""
    contributor_id = answer["contributor_id"]
    for _ in range(_MAX_RETRIES):
        verdict, need = await photo_demand(db, photo, config=config, estimates=estimates)
        fields = queue_state(photo, verdict=verdict, need=need)
        if contributor_id in photo.get("answerers", ()):
            # Recorded by another attempt at this answer, which may have read the consensus
            # before this answer's evidence: set the queue state from the consensus now.
            after = await store.rescore(db, photo, fields=fields)
        else:
            after = await store.record_answer(
                db, photo, contributor_id=contributor_id, lease_id=answer["lease_id"], fields=fields
            )
        if after is not None:
            await settle_change(db, before=photo, after=after)
            return need.answers_still_needed
        photo = await _photo_of(db, answer)
    await store.set_answer_given_up(db, answer["_id"])
    raise TryAgain(
        f"other answers kept changing photo {answer['photo_id']} while this one was recorded; "
        "the answer is stored: send it again with the same idempotencyKey to finish"
    )
