from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager

from api.app import create_app
from api.database import Database
from api.photos.images import SMALL_SIDE, prepare_photo
from api.photos.samples import SAMPLES_DIR, first_run_samples, has_photos, sample_paths
from api.settings import Settings

MAX_TOTAL_BYTES = 2 * 1024 * 1024


def test_every_sample_has_its_licence_stated() -> None:
    licences = (SAMPLES_DIR / "LICENSES.md").read_text()
    paths = sample_paths()
    assert 5 <= len(paths) <= 8
    assert sum(path.stat().st_size for path in paths) < MAX_TOTAL_BYTES
    for path in paths:
        assert f"`{path.name}`" in licences, path.name


async def test_samples_are_imported_once_into_an_empty_collection(db: Database) -> None:
    assert not await has_photos(db)

    message = await first_run_samples(db)
    again = await first_run_samples(db)

    assert message is not None
    assert "photosurvey import PATH" in message
    assert again is None
    assert await db.photos.count_documents({"source": "sample"}) == len(sample_paths())
    assert await has_photos(db)


def test_the_samples_decode() -> None:
    for path in sample_paths():
        prepared = prepare_photo(path.read_bytes())
        assert min(prepared.small_width, prepared.small_height) == min(
            SMALL_SIDE, prepared.width, prepared.height
        )


async def test_a_first_dev_run_on_the_embedded_database_imports_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(env="dev", data_dir=tmp_path, db_name="first_run")
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30):
        pass
    async with LifespanManager(create_app(settings), startup_timeout=60, shutdown_timeout=30):
        pass  # a second start finds photos and imports nothing

    out = capsys.readouterr().out
    assert out.count(f"Imported {len(sample_paths())} sample photos") == 1
    assert "photosurvey import PATH" in out
