"""The pre-label worker's step on the real model: a photo's own fault against a model's."""

import random
from datetime import UTC, datetime
from pathlib import Path

from bson import ObjectId

from api.database import Database
from api.photos.ingest import Added, ingest_photo
from api.prelabel.store import mark_model_fault, retry_model_faults, start_counts
from api.prelabel.worker import Batch, Prelabeller
from api.settings import Settings
from api.survey.aggregating import ConsensusConfig
from api.survey.opening import open_photo
from api.survey.selection import Policy
from api.survey.store import read_stats
from inference import Model
from tests.api.photos.builders import jpeg_bytes, png_bytes
from tests.processes import REPO

MODELS = Path(__file__).resolve().parents[1] / "inference" / "models"
NAN_MODEL = MODELS / "nan_logits.tflite"
RED_OVERFLOW = MODELS / "red_overflow.tflite"
BRIGHT_GATHER = MODELS / "bright_gather.tflite"


async def _add(db: Database, data: bytes) -> str:
    added = await ingest_photo(db, data, filename="p", source="import")
    assert isinstance(added, Added)
    return added.photo.id


async def test_a_photo_that_cannot_be_read_is_unreadable_and_the_others_open(
    db: Database, settings: Settings
) -> None:
    good = await _add(db, jpeg_bytes())
    lost = await _add(db, png_bytes(64, 64))
    await db.photos.update_one({"_id": lost}, {"$set": {"small_file_id": ObjectId()}})
    model = Model.from_path(REPO / settings.model_path)  # the default int8 model
    prelabeller = Prelabeller.from_settings(db, model, settings)

    batch = await prelabeller.run_batch()

    assert (batch.claimed, batch.unreadable) == (2, 1)
    statuses = {doc["_id"]: doc["status"] async for doc in db.photos.find({}, {"status": 1})}
    assert statuses == {good: "open", lost: "unreadable"}
    stats = await read_stats(db)
    assert (stats["prelabelled"], stats["unreadable"], stats["model_faulted"]) == (1, 1, 0)
    await prelabeller.run_batch()  # nothing left: counted once
    assert (await read_stats(db))["unreadable"] == 1


async def test_a_model_fault_leaves_the_photo_new_for_another_model_and_the_batch_goes_on(
    db: Database, settings: Settings
) -> None:
    grey = await _add(db, jpeg_bytes(colour=(127, 127, 127)))
    red = await _add(db, jpeg_bytes(colour=(250, 20, 20)))
    model = Model.from_path(RED_OVERFLOW)  # an infinite score on bright red photos only
    prelabeller = Prelabeller.from_settings(db, model, settings)

    assert await prelabeller.run_batch() == Batch(claimed=2, unreadable=0, model_faults=1)
    assert await prelabeller.run_batch() == Batch(claimed=0, unreadable=0, model_faults=0)

    stored = {doc["_id"]: doc async for doc in db.photos.find()}
    assert stored[grey]["status"] == "open"
    assert stored[red]["status"] == "new"
    assert "prediction" not in stored[red] or not stored[red]["prediction"]
    assert stored[red]["model_fault"]["model"] == model.spec.sha256
    assert "non-finite scores" in stored[red]["model_fault"]["reason"]
    assert (await read_stats(db))["model_faulted"] == 1
    # The same model, started again, leaves it; another model (the default one) takes it up.
    await prelabeller.prepare()
    assert (await prelabeller.run_batch()).claimed == 0
    other = Prelabeller.from_settings(db, Model.from_path(REPO / settings.model_path), settings)
    await other.prepare()
    assert (await read_stats(db))["model_faulted"] == 0
    assert await other.run_batch() == Batch(claimed=1, unreadable=0, model_faults=0)
    assert (await db.photos.find_one({"_id": red}) or {})["status"] == "open"
    assert (await read_stats(db))["prelabelled"] == 2


async def test_a_model_that_fails_to_run_on_a_photo_is_a_model_fault_and_the_batch_goes_on(
    db: Database, settings: Settings
) -> None:
    dark = await _add(db, jpeg_bytes(colour=(60, 60, 60)))
    white = await _add(db, jpeg_bytes(colour=(255, 255, 255)))
    model = Model.from_path(BRIGHT_GATHER)  # the runtime refuses to run it on bright pixels
    prelabeller = Prelabeller.from_settings(db, model, settings)

    assert await prelabeller.run_batch() == Batch(claimed=2, unreadable=0, model_faults=1)

    stored = {doc["_id"]: doc async for doc in db.photos.find()}
    assert stored[dark]["status"] == "open"
    assert stored[white]["status"] == "new"
    assert "the model failed to run: gather index out of" in stored[white]["model_fault"]["reason"]


async def test_a_model_that_fails_on_every_photo_tries_each_once(
    db: Database, settings: Settings
) -> None:
    photos = [await _add(db, jpeg_bytes(colour=(10 * n, 0, 0))) for n in range(3)]
    model = Model.from_path(NAN_MODEL)  # loads; every score it gives is NaN
    prelabeller = Prelabeller.from_settings(db, model, settings)

    assert await prelabeller.run_batch() == Batch(claimed=3, unreadable=0, model_faults=3)
    assert (await prelabeller.run_batch()).claimed == 0
    statuses = [doc["status"] async for doc in db.photos.find({"_id": {"$in": photos}})]
    assert statuses == ["new"] * 3
    assert (await read_stats(db))["model_faulted"] == 3


async def test_a_photo_a_model_failed_on_is_not_opened_by_a_late_worker_nor_counted_twice(
    db: Database, settings: Settings
) -> None:
    # Two workers held the same photo (the first one's claim had lapsed). Once one model has
    # failed on it, the other's label must not open it behind the fault's back, and a second
    # fault neither replaces the first nor counts again.
    data = jpeg_bytes(colour=(250, 20, 20))
    red = await _add(db, data)
    failing = Prelabeller.from_settings(db, Model.from_path(RED_OVERFLOW), settings)
    assert (await failing.run_batch()).model_faults == 1
    late = Model.from_path(REPO / settings.model_path)

    opened = await open_photo(
        db,
        red,
        late.predict(data).to_dict(),
        policy=Policy.from_settings(settings),
        config=ConsensusConfig.from_settings(settings),
        rng=random.Random(0),
        now=datetime.now(UTC),
    )
    await mark_model_fault(db, red, model="another", reason="late", now=datetime.now(UTC))

    assert opened is False
    stored = await db.photos.find_one({"_id": red})
    assert stored is not None
    assert (stored["status"], stored["model_fault"]["model"]) == (
        "new",
        failing.labeller.spec.sha256,
    )
    stats = await read_stats(db)
    assert (stats["prelabelled"], stats["model_faulted"]) == (0, 1)


async def test_photos_a_database_held_before_they_were_counted_are_counted_at_start_up(
    db: Database,
) -> None:
    # A database from before these counts: an unreadable photo and a faulted one, uncounted.
    unreadable = await _add(db, jpeg_bytes(colour=(1, 2, 3)))
    faulted = await _add(db, jpeg_bytes(colour=(4, 5, 6)))
    await db.photos.update_one({"_id": unreadable}, {"$set": {"status": "unreadable"}})
    fault = {"model": "a" * 64, "reason": "old", "at": datetime.now(UTC)}
    await db.photos.update_one({"_id": faulted}, {"$set": {"model_fault": fault}})

    await start_counts(db)
    await start_counts(db)  # every start-up runs it: once counted, it counts nothing again

    stats = await read_stats(db)
    assert (stats["unreadable"], stats["model_faulted"]) == (1, 1)
    assert await retry_model_faults(db, model="b" * 64) == 1
    assert (await read_stats(db))["model_faulted"] == 0
