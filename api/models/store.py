"""The ``models`` collection: each model version that has pre-labelled photos, with its
label set, so a label given for a photo (a gold label) is checked against the labels of
the model that labelled it. Written by the pre-label workers when they load a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from api.database import CollectionIndexes, Database
from inference import Label, ModelSpec

INDEXES = CollectionIndexes("models", ())  # read by ``_id`` (the version) only


async def record_model(db: Database, spec: ModelSpec, labels: Sequence[Label]) -> None:
    """Keep the model's version, file identity and label set (once per version)."""
    await db.models.update_one(
        {"_id": spec.version},
        {
            "$setOnInsert": {
                "sha256": spec.sha256,
                "labels": [{"id": label.id, "name": label.name} for label in labels],
                "recorded_at": datetime.now(UTC),
            }
        },
        upsert=True,
    )


async def label_set(db: Database, version: str) -> dict[str, str] | None:
    """The label ids of a model version and their names; None if it was never recorded."""
    doc = await db.models.find_one({"_id": version}, {"labels": 1})
    if doc is None:
        return None
    return {label["id"]: label["name"] for label in doc["labels"]}
