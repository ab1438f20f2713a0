"""The service under test for `bench/api.py`: a pool of photos loaded straight into the
embedded database in the queue state the service computes, contributors, and the real
``photosurvey serve`` process.

The pool is written with bulk inserts, but every queue field comes from the service's own
functions (`queue_fields`, and `queue.open_photo` for the change that opens a photo), and
the bucket and open-photo counts are counted from the same photos. Predictions are
synthetic: the top-1 probability is uniform in [0.05, 1), so least-confidence uncertainty
spreads evenly over the priority buckets (each bucket holds about N / 475 photos), and the
question kinds mix DESCRIBE, CHOOSE and VERIFY.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from api import counters
from api.app import INDEXES
from api.auth.store import add_contributor
from api.database import Database, Document, ensure_indexes
from api.settings import Settings
from api.survey.aggregating import ConsensusConfig
from api.survey.opening import queue_fields
from api.survey.queue import open_photo
from api.survey.selection import Policy

MODEL_VERSION = "bench-model@1"
LABELS = 1000
TOP_K = 5
INSERT_BATCH = 1000
SECRET_KEY = "bench-secret-key-not-for-production-0123456789"
_READY_TIMEOUT = 60.0
_STOP_TIMEOUT = 20.0
_LOG_TAIL_LINES = 20


class ServiceError(RuntimeError):
    """The service under test did not start or answer."""


# --- the pool --------------------------------------------------------------------------


def synthetic_prediction(rng: random.Random) -> dict[str, Any]:
    """A prediction shaped like ``Prediction.to_dict()``: top-k highest first."""
    top = rng.uniform(0.05, 1.0)
    probabilities = [top]
    for _ in range(TOP_K - 1):
        probabilities.append(probabilities[-1] * rng.uniform(0.2, 0.9))
    labels = rng.sample(range(LABELS), TOP_K)
    top_k = [
        {"label_id": f"n{label:08d}", "name": f"label {label}", "probability": p}
        for label, p in zip(labels, probabilities, strict=True)
    ]
    tail = max(1.0 - sum(probabilities), 0.0)
    masses = [p for p in [*probabilities, tail] if p > 0]
    entropy = -sum(p * math.log(p) for p in masses) / math.log(LABELS)
    return {
        "model_version": MODEL_VERSION,
        "model_sha256": "0" * 64,
        "top_k": top_k,
        "label_count": LABELS,
        "uncertainty": {
            "least_confidence": 1.0 - top,
            "margin": 1.0 - (top - probabilities[1]),
            "entropy": min(entropy, 1.0),
        },
    }


@dataclass
class PoolLoad:
    """Documents for one batch of photos, and the bucket counts they add."""

    photos: list[Document]
    predictions: list[Document]
    buckets: Counter[int]


def pool_batch(ids: range, *, settings: Settings, rng: random.Random, now: datetime) -> PoolLoad:
    """Photos as `open_photo` would leave them."""
    policy = Policy.from_settings(settings)
    config = ConsensusConfig.from_settings(settings)
    load = PoolLoad([], [], Counter())
    for index in ids:
        photo_id = f"bench{index:019d}"
        prediction = synthetic_prediction(rng)
        fields = queue_fields(
            prediction,
            policy=policy,
            config=config,
            draw=rng.random(),
            now=now,
        )
        opened = open_photo(photo_id, fields)  # the change `opening.open_photo` writes
        load.photos.append({"_id": photo_id, **opened.update["$set"]})
        if opened.bucket_to is not None:
            load.buckets[opened.bucket_to] += 1
        load.predictions.append({"photo_id": photo_id, "created_at": now, **prediction})
    return load


async def load_pool(db: Database, size: int, *, settings: Settings, seed: int) -> int:
    """Insert `size` pre-labelled photos and their queue bookkeeping; returns the queue
    depth (the open photos)."""
    await ensure_indexes(db, INDEXES)
    rng = random.Random(seed)
    now = datetime.now(UTC)
    buckets: Counter[int] = Counter()
    opened = 0
    for start in range(0, size, INSERT_BATCH):
        batch = pool_batch(
            range(start, min(start + INSERT_BATCH, size)), settings=settings, rng=rng, now=now
        )
        await db.photos.insert_many(batch.photos, ordered=False)
        buckets.update(batch.buckets)
        opened += sum(photo["status"] == "open" for photo in batch.photos)
    await db.queue.insert_one(
        {"_id": "buckets", "counts": {str(b): n for b, n in sorted(buckets.items())}}
    )
    await counters.count(db, photos=size, prelabelled=size, open=opened)
    return opened


async def add_contributors(db: Database, count: int) -> list[str]:
    """`count` new contributors; returns their bearer tokens."""
    added = await asyncio.gather(
        *(add_contributor(db, f"bench-{i:04d}", role="contributor") for i in range(count))
    )
    return [token for _, token in added]


# --- the service process ---------------------------------------------------------------


def service_environ(*, mongodb_uri: str, db_name: str, port: int, data_dir: Path) -> dict[str, str]:
    return {
        "PHOTOSURVEY_MONGODB_URI": mongodb_uri,
        "PHOTOSURVEY_DB_NAME": db_name,
        "PHOTOSURVEY_PORT": str(port),
        "PHOTOSURVEY_HOST": "127.0.0.1",
        "PHOTOSURVEY_DATA_DIR": str(data_dir),
        "PHOTOSURVEY_ENV": "production",
        "PHOTOSURVEY_SECRET_KEY": SECRET_KEY,
        "PHOTOSURVEY_PRELABEL_WORKER": "off",
        # Every request is logged at INFO; that would cost the service time.
        "PHOTOSURVEY_LOG_LEVEL": "WARNING",
    }


@dataclass
class Service:
    """A running ``photosurvey serve`` process."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    @classmethod
    def start(cls, environ: dict[str, str], *, log_path: Path) -> Service:
        # The console script installed beside the interpreter running the bench.
        executable = Path(sys.executable).parent / "photosurvey"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [str(executable), "serve"],
                env={**os.environ, **environ},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        port = environ["PHOTOSURVEY_PORT"]
        return cls(process=process, base_url=f"http://127.0.0.1:{port}", log_path=log_path)

    async def wait_until_ready(self, *, within: float = _READY_TIMEOUT) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise self._failure(f"exited with code {self.process.returncode}")
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise self._failure(f"was not ready within {within:.0f} s")

    def stop(self) -> None:
        """SIGINT (uvicorn's graceful stop), then SIGKILL if it hangs."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _failure(self, what: str) -> ServiceError:
        lines = self.log_path.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
        tail = "\n".join(lines)
        return ServiceError(f"the service {what}. Last lines of {self.log_path}:\n{tail}")
