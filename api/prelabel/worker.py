"""Running the model over new photos, in batches claimed atomically.

The model's work runs in a worker thread (decoding and inference release the GIL); the
event loop only moves documents. Any number of workers, in any number of processes, can
run side by side: each batch is claimed first.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from api.database import Database, Document
from api.models import store as model_store
from api.periodic import run_periodically
from api.photos.files import read_file
from api.prelabel.labeller import Labeller
from api.prelabel.store import (
    claim_new_photos,
    mark_model_fault,
    mark_unreadable,
    retry_model_faults,
)
from api.settings import Settings
from api.survey.aggregating import ConsensusConfig
from api.survey.opening import open_photo
from api.survey.selection import Policy
from inference import ImageError, InferenceError, InvalidModelError, Prediction

logger = logging.getLogger(__name__)

IDLE_SECONDS = 2.0


@dataclass(frozen=True)
class Batch:
    """What one batch did: photos claimed, how many of them could not be read, and how many
    the model gave no usable scores for (`ModelFault`)."""

    claimed: int
    unreadable: int
    model_faults: int

    def __add__(self, other: Batch) -> Batch:
        return Batch(
            claimed=self.claimed + other.claimed,
            unreadable=self.unreadable + other.unreadable,
            model_faults=self.model_faults + other.model_faults,
        )


@dataclass(frozen=True)
class ModelFault:
    """The model failed on this photo (scores that are not finite): its fault, not the
    photo's, so the photo stays ``new`` for another model."""

    reason: str


@dataclass
class Prelabeller:
    """Pre-labels batches of new photos with one model."""

    db: Database
    labeller: Labeller
    policy: Policy
    config: ConsensusConfig
    batch: int
    worker: str = field(default_factory=lambda: uuid.uuid4().hex)
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_settings(cls, db: Database, labeller: Labeller, settings: Settings) -> Prelabeller:
        return cls(
            db=db,
            labeller=labeller,
            policy=Policy.from_settings(settings),
            config=ConsensusConfig.from_settings(settings),
            batch=settings.prelabel_batch,
        )

    async def prepare(self) -> None:
        """Once, before the first batch: record the model (its label set checks the labels
        given for the photos it labels), and let it try the new photos another model
        failed on."""
        await model_store.record_model(self.db, self.labeller.spec, self.labeller.labels)
        retried = await retry_model_faults(self.db, model=self.labeller.spec.sha256)
        if retried:
            logger.info("photos another model failed on are tried again", extra={"count": retried})

    async def run_batch(self) -> Batch:
        """Claim and pre-label one batch."""
        now = datetime.now(UTC)
        model = self.labeller.spec.sha256
        photos = await claim_new_photos(self.db, worker=self.worker, limit=self.batch, now=now)
        images = [await self._small_copy(photo) for photo in photos]
        unreadable, faulted = 0, []
        for photo, outcome in zip(photos, await self._predict(images), strict=True):
            if isinstance(outcome, Prediction):
                await self._open(photo["_id"], outcome, now=now)
            elif isinstance(outcome, ModelFault):
                await mark_model_fault(
                    self.db, photo["_id"], model=model, reason=outcome.reason, now=now
                )
                faulted.append((photo["_id"], outcome.reason))
            else:
                logger.warning("photo unreadable", extra={"photo": photo["_id"], "why": outcome})
                await mark_unreadable(self.db, photo["_id"], reason=outcome, now=now)
                unreadable += 1
        if faulted:  # one line per batch, however many photos the model failed on
            logger.error(
                "the model failed on photos; they stay new for another model",
                extra={"photos": [p for p, _ in faulted], "model": model, "why": faulted[0][1]},
            )
        return Batch(claimed=len(photos), unreadable=unreadable, model_faults=len(faulted))

    async def _open(self, photo_id: str, prediction: Prediction, *, now: datetime) -> None:
        await open_photo(
            self.db,
            photo_id,
            prediction.to_dict(),
            policy=self.policy,
            config=self.config,
            rng=self.rng,
            now=now,
        )

    async def _small_copy(self, photo: Document) -> bytes:
        data = await read_file(self.db, photo["small_file_id"])
        return b"" if data is None else data  # an empty file reads as unreadable below

    async def _predict(self, images: list[bytes]) -> list[Prediction | ModelFault | str]:
        if not images:
            return []
        try:
            return list(await asyncio.to_thread(self.labeller.predict_many, images))
        except InferenceError:
            # One bad photo fails the batch; find it by going one by one.
            return [await self._predict_one(image) for image in images]

    async def _predict_one(self, image: bytes) -> Prediction | ModelFault | str:
        """The prediction; the reason the photo cannot be read (a string: only the photo's
        own fault makes it unreadable); or the model's fault."""
        try:
            return await asyncio.to_thread(self.labeller.predict, image)
        except ImageError as exc:
            return str(exc)
        except InvalidModelError as exc:  # any other error fails the batch, to be tried again
            return ModelFault(str(exc))


@asynccontextmanager
async def run_prelabel_worker(prelabeller: Prelabeller) -> AsyncIterator[None]:
    """Pre-label new photos in the background while the block runs."""

    async def step() -> bool:
        return (await prelabeller.run_batch()).claimed == prelabeller.batch  # full: more wait

    await prelabeller.prepare()
    async with run_periodically("prelabel-worker", step, every=IDLE_SECONDS):
        yield
