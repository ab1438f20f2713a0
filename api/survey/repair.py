"""``photosurvey repair``: set every count the survey keeps to what the stored answers and
photos imply, and say what was off.

An answer and its counts are written in one transaction, so they agree whatever happens;
a database written by an earlier version, or changed by hand, may not. The bucket counts
are hints written after each change (`api.survey.store`), so a crash can leave them off.
Repair reads every answer and photo once: run it while the service is stopped, since a
change made while it counts may be counted twice or not at all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from api import counters
from api.database import Database
from api.survey import store
from api.survey.queue import PhotoStatus


@dataclass(frozen=True)
class Fix:
    """One count that was off."""

    what: str
    was: int
    now: int

    def __str__(self) -> str:
        return f"{self.what}: {self.was} -> {self.now}"


async def repair(db: Database) -> list[Fix]:
    """Recount everything; the counts that were off, now set right."""
    answers = await db.answers.find({}, {"photo_id": 1, "contributor_id": 1}).to_list()
    per_photo = Counter(answer["photo_id"] for answer in answers)
    open_photos = {
        photo["_id"]
        async for photo in db.photos.find({"status": PhotoStatus.OPEN.value}, {"_id": 1})
    }
    fixes = await _service_counts(db, answers=len(answers), per_photo=per_photo)
    fixes += await _contributor_counts(
        db,
        "answer_count",
        Counter(answer["contributor_id"] for answer in answers),
        what="answers",
    )
    fixes += await _contributor_counts(
        db,
        "open_answers",
        Counter(a["contributor_id"] for a in answers if a["photo_id"] in open_photos),
        what="answers on open photos",
    )
    fixes += await _photo_counts(db, per_photo)
    fixes += [
        Fix(f"available photos in bucket {bucket}", was, now)
        for bucket, (was, now) in sorted((await store.recount_buckets(db)).items())
    ]
    return fixes


async def _service_counts(db: Database, *, answers: int, per_photo: Counter[str]) -> list[Fix]:
    expected: Counter[str] = Counter(answers=answers, open=0, retired_answers=0)
    fields = {"status": 1, "retirement_reason": 1}
    async for photo in db.photos.find({"status": {"$in": ["open", "retired"]}}, fields):
        if photo["status"] == PhotoStatus.OPEN:
            expected["open"] += 1
        else:
            expected[f"retired.{photo['retirement_reason']}"] += 1
            expected["retired_answers"] += per_photo[photo["_id"]]
    kept = _flat(await counters.read_counts(db))
    names = {*expected, *(name for name in kept if name.startswith("retired."))}
    fixes = [
        Fix(f"stats {name}", kept.get(name, 0), expected[name])
        for name in sorted(names)
        if kept.get(name, 0) != expected[name]
    ]
    if fixes:
        await counters.count(db, **{fix.what.removeprefix("stats "): fix.now - fix.was
                                    for fix in fixes})  # fmt: skip
    return fixes


def _flat(counts: dict[str, object], prefix: str = "") -> dict[str, int]:
    flat: dict[str, int] = {}
    for name, value in counts.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{name}.")
        elif isinstance(value, int | float):
            flat[prefix + name] = int(value)
    return flat


async def _contributor_counts(
    db: Database, field: str, per_contributor: Counter[str], *, what: str
) -> list[Fix]:
    fixes = []
    async for contributor in db.contributors.find({}, {field: 1, "name": 1}):
        kept, now = contributor.get(field, 0), per_contributor[contributor["_id"]]
        if kept != now:
            await db.contributors.update_one({"_id": contributor["_id"]}, {"$set": {field: now}})
            fixes.append(Fix(f"{what} of contributor {contributor['name']}", kept, now))
    return fixes


async def _photo_counts(db: Database, per_photo: Counter[str]) -> list[Fix]:
    fixes = []
    fields = {"answer_count": 1, "consensus.answer_count": 1}
    async for photo in db.photos.find({"status": {"$in": ["open", "retired", "gold"]}}, fields):
        kept, now = photo.get("answer_count", 0), per_photo[photo["_id"]]
        summary = (photo.get("consensus") or {}).get("answer_count", now)
        if kept == now and summary == now:
            continue
        update = {"answer_count": now} | ({"consensus.answer_count": now}
                                          if "consensus" in photo else {})  # fmt: skip
        await db.photos.update_one({"_id": photo["_id"]}, {"$set": update})
        fixes.append(Fix(f"answers of photo {photo['_id']}", kept, now))
    async for evidence in db.consensus.find({}, {"answer_count": 1}):
        kept, now = evidence.get("answer_count", 0), per_photo[evidence["_id"]]
        if kept != now:
            await db.consensus.update_one({"_id": evidence["_id"]}, {"$set": {"answer_count": now}})
            fixes.append(Fix(f"answers in the consensus of photo {evidence['_id']}", kept, now))
    return fixes
