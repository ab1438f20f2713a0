"""The pre-label worker's step on the real model: a photo's own fault against a model's."""

from pathlib import Path

import pytest
from bson import ObjectId

from api.database import Database
from api.photos.ingest import Added, ingest_photo
from api.prelabel.worker import Prelabeller
from api.settings import Settings
from inference import InvalidModelError, Model
from tests.api.photos.builders import jpeg_bytes, png_bytes
from tests.processes import REPO

NAN_MODEL = Path(__file__).resolve().parents[1] / "inference" / "models" / "nan_logits.tflite"


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


async def test_a_model_fault_stops_the_batch_and_leaves_its_photos_new(
    db: Database, settings: Settings
) -> None:
    photo = await _add(db, jpeg_bytes())
    model = Model.from_path(NAN_MODEL)  # loads; every score it gives is NaN
    prelabeller = Prelabeller.from_settings(db, model, settings)

    with pytest.raises(InvalidModelError, match="non-finite"):
        await prelabeller.run_batch()

    stored = await db.photos.find_one({"_id": photo})
    assert stored is not None
    assert stored["status"] == "new"
    assert "prediction" not in stored or not stored["prediction"]
