"""Per-request DataLoaders: fields of many photos in one query each, never one per photo."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from api.database import ID_PAGE, Database, Document
from api.survey import store


@dataclass(frozen=True)
class SurveyLoaders:
    predictions: DataLoader[str, list[Document]]
    """A photo's stored predictions, one per model version."""
    survey_states: DataLoader[str, Document]
    """A photo's survey fields: answer count, consensus summary, retirement reason, and why
    the model has not labelled it."""

    @classmethod
    def for_request(cls, db: Database) -> SurveyLoaders:
        async def predictions(photo_ids: Sequence[str]) -> list[list[Document]]:
            found: defaultdict[str, list[Document]] = defaultdict(list)
            for doc in await store.predictions_for(db, photo_ids):
                found[doc["photo_id"]].append(doc)
            return [found[photo_id] for photo_id in photo_ids]

        async def survey_states(photo_ids: Sequence[str]) -> list[Document]:
            found = await store.survey_states(db, photo_ids)
            return [found.get(photo_id, {}) for photo_id in photo_ids]

        # A request may name any number of photos (aliases): ask a page of ids at a time.
        return cls(
            predictions=DataLoader(load_fn=predictions, max_batch_size=ID_PAGE),
            survey_states=DataLoader(load_fn=survey_states, max_batch_size=ID_PAGE),
        )
