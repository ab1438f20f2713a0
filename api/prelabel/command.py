"""``photosurvey prelabel``: pre-label every new photo now, with a progress bar."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

from tqdm import tqdm

from api.connection import open_database
from api.database import Document, ensure_indexes
from api.logs import configure_logging
from api.models import store as model_store
from api.prelabel import store as prelabel_store
from api.prelabel.labeller import Labeller, load_labeller
from api.prelabel.worker import Batch, Prelabeller
from api.settings import Settings
from api.survey import store as survey_store

FAULT_EXAMPLES = 5  # photo ids named when the model failed on photos


@dataclass(frozen=True)
class Run:
    """What a run did, and the new photos its model has failed on (this run or before)."""

    done: Batch
    faults: int
    first_faults: list[Document]


def run_prelabel(settings: Settings) -> int:
    """Pre-label until no new photo is left that this model has not tried; prints a
    summary. Returns the exit code: 1 when new photos are left that the model failed on."""
    labeller = load_labeller(settings)  # a bad model file fails here, before any database
    configure_logging(settings.log_level)  # JSON lines, as the service's: faults name photos
    run = asyncio.run(_prelabel_all(settings, labeller))
    done = run.done
    labelled = done.claimed - done.unreadable - done.model_faults
    print(
        f"pre-labelled {labelled} photos; {done.unreadable} could not be read "
        "(left with status 'unreadable')"
    )
    if not run.faults:
        return 0
    named = ", ".join(photo["_id"] for photo in run.first_faults)
    more = f" and {run.faults - len(run.first_faults)} more" if run.faults > FAULT_EXAMPLES else ""
    print(
        f"photosurvey: model error: this model failed on {run.faults} photos, left 'new' for "
        f"another model: {named}{more}; the first: {run.first_faults[0]['model_fault']['reason']}",
        file=sys.stderr,
    )
    return 1


async def _prelabel_all(settings: Settings, labeller: Labeller) -> Run:
    async with open_database(settings) as db:
        await ensure_indexes(
            db, (*survey_store.INDEXES, prelabel_store.INDEXES, model_store.INDEXES)
        )
        await prelabel_store.start_counts(db)
        prelabeller = Prelabeller.from_settings(db, labeller, settings)
        await prelabeller.prepare()
        total = await prelabel_store.count_to_do(db)
        done = Batch(claimed=0, unreadable=0, model_faults=0)
        with tqdm(
            total=total, desc="pre-labelling", unit="photo", file=sys.stderr, disable=None
        ) as bar:  # a bar on a terminal only, as `import` draws it
            while (batch := await prelabeller.run_batch()).claimed:
                done += batch
                bar.update(batch.claimed)
        faults, first = await prelabel_store.model_faults(
            db, model=labeller.spec.sha256, examples=FAULT_EXAMPLES
        )
        return Run(done, faults, first)
