"""The whole loop on real parts: import photos with the CLI, pre-label them with the default
model, and three contributors answer through GraphQL until every photo has its answers."""

import shutil
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from api.database import Database
from api.settings import Settings
from api.survey.operations import NEXT_TASKS, SUBMIT
from tests.api.survey.builders import answer_for, graphql, token_for
from tests.processes import REPO, run_photosurvey

SAMPLES = REPO / "api" / "samples"
DEFAULT_MODEL = "efficientnet_lite0_int8@"


def _write_photos(folder: Path, count: int) -> None:
    """The repository's sample photos, then synthetic scenes up to `count`."""
    folder.mkdir()
    samples = sorted(SAMPLES.glob("*.jpg")) + sorted(SAMPLES.glob("*.png"))
    for sample in samples[:count]:
        shutil.copy(sample, folder / sample.name)
    rng = np.random.default_rng(7)
    for i in range(count - len(samples[:count])):
        base = rng.integers(0, 256, size=(1, 1, 3))
        ramp = np.linspace(0, 255, 320)[None, :, None] * rng.random(3)
        noise = rng.normal(0, 40 * (i % 4), size=(240, 320, 3))
        pixels = np.clip(base + ramp + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"scene-{i:02d}.jpg", quality=85)


async def test_import_prelabel_and_answer_every_photo(
    http: httpx.AsyncClient, db: Database, settings: Settings, tmp_path: Path
) -> None:
    _write_photos(tmp_path / "photos", 20)
    imported = run_photosurvey(settings, "import", str(tmp_path / "photos"))
    assert imported.returncode == 0, imported.stderr
    assert "imported 20" in imported.stdout + imported.stderr
    prelabelled = run_photosurvey(settings, "prelabel")
    assert prelabelled.returncode == 0, prelabelled.stderr
    assert "pre-labelled 20 photos" in prelabelled.stdout

    predictions = await db.predictions.find({}).to_list()
    assert len(predictions) == 20
    assert all(p["model_version"].startswith(DEFAULT_MODEL) for p in predictions)
    uncertainty = {p["photo_id"]: p["uncertainty"]["least_confidence"] for p in predictions}

    tokens = [await token_for(db) for _ in range(3)]
    first = (await graphql(http, NEXT_TASKS, tokens[0], count=5))["data"]["nextTasks"]
    most_uncertain = sorted(uncertainty, key=uncertainty.__getitem__, reverse=True)[:5]
    assert [task["photoId"] for task in first] == most_uncertain
    assert all(task["reason"]["modelVersion"].startswith(DEFAULT_MODEL) for task in first)

    pending = {tokens[0]: first}
    answered = 0
    while True:
        progress = 0
        for token in tokens:
            tasks = (
                pending.pop(token, None)
                or (await graphql(http, NEXT_TASKS, token, count=5))["data"]["nextTasks"]
            )
            for task in tasks:
                payload = {"leaseId": task["leaseId"], "answer": answer_for(task),
                           "idempotencyKey": task["leaseId"]}  # fmt: skip
                result = (await graphql(http, SUBMIT, token, input=payload))["data"]
                assert result["submitAnswer"]["__typename"] == "AnswerAccepted"
                progress += 1
        answered += progress
        if progress == 0:
            break

    # Three contributors: each photo got every one's answer unless consensus retired it
    # sooner (two agreeing answers can be enough).
    photos = await db.photos.find({}, {"status": 1, "answer_count": 1}).to_list()
    assert len(photos) == 20
    assert all(p["answer_count"] == 3 or p["status"] == "retired" for p in photos)
    assert all(p["answer_count"] >= 2 for p in photos)
    assert answered == sum(p["answer_count"] for p in photos)
