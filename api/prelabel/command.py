"""``photosurvey prelabel``: pre-label every new photo now, with a progress bar."""

from __future__ import annotations

import asyncio
import sys

from tqdm import tqdm

from api.connection import open_database
from api.database import ensure_indexes
from api.prelabel.labeller import Labeller, load_labeller
from api.prelabel.worker import Prelabeller
from api.settings import Settings
from api.survey import store as survey_store


def run_prelabel(settings: Settings) -> int:
    """Pre-label until no new photo is left; prints a summary. Returns the exit code."""
    labeller = load_labeller(settings)  # a bad model file fails here, before any database
    claimed, unreadable = asyncio.run(_prelabel_all(settings, labeller))
    print(
        f"pre-labelled {claimed - unreadable} photos; {unreadable} could not be read "
        "(left with status 'unreadable')"
    )
    return 0


async def _prelabel_all(settings: Settings, labeller: Labeller) -> tuple[int, int]:
    async with open_database(settings) as db:
        await ensure_indexes(db, survey_store.INDEXES)
        prelabeller = Prelabeller.from_settings(db, labeller, settings)
        total = await db.photos.count_documents({"status": "new"})
        claimed = unreadable = 0
        with tqdm(
            total=total, desc="pre-labelling", unit="photo", file=sys.stderr, disable=None
        ) as bar:  # a bar on a terminal only, as `import` draws it
            while (batch := await prelabeller.run_batch()).claimed:
                claimed += batch.claimed
                unreadable += batch.unreadable
                bar.update(batch.claimed)
        return claimed, unreadable
