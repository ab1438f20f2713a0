"""``photosurvey prelabel``: pre-label every new photo now, with a progress bar."""

from __future__ import annotations

import asyncio
import sys

from tqdm import tqdm

from api.connection import open_database
from api.database import ensure_indexes
from api.prelabel import store as prelabel_store
from api.prelabel.labeller import Labeller, load_labeller
from api.prelabel.worker import Batch, Prelabeller
from api.settings import Settings
from api.survey import store as survey_store


def run_prelabel(settings: Settings) -> int:
    """Pre-label until no new photo is left that this model has not tried; prints a
    summary. Returns the exit code: 1 when the model failed on any photo."""
    labeller = load_labeller(settings)  # a bad model file fails here, before any database
    done = asyncio.run(_prelabel_all(settings, labeller))
    labelled = done.claimed - done.unreadable - done.model_faults
    print(
        f"pre-labelled {labelled} photos; {done.unreadable} could not be read "
        "(left with status 'unreadable')"
    )
    if done.model_faults:
        print(
            f"photosurvey: model error: the model gave scores that are not finite for "
            f"{done.model_faults} photos (left 'new' for another model; the log names them)",
            file=sys.stderr,
        )
        return 1
    return 0


async def _prelabel_all(settings: Settings, labeller: Labeller) -> Batch:
    """Every batch run, added up."""
    async with open_database(settings) as db:
        await ensure_indexes(db, (*survey_store.INDEXES, prelabel_store.INDEXES))
        prelabeller = Prelabeller.from_settings(db, labeller, settings)
        await prelabeller.retry_model_faults()
        total = await db.photos.count_documents({"status": "new"})
        done = Batch(claimed=0, unreadable=0, model_faults=0)
        with tqdm(
            total=total, desc="pre-labelling", unit="photo", file=sys.stderr, disable=None
        ) as bar:  # a bar on a terminal only, as `import` draws it
            while (batch := await prelabeller.run_batch()).claimed:
                done += batch
                bar.update(batch.claimed)
        return done
