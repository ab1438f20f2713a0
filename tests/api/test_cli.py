"""The `photosurvey` commands not covered with their domain: bad arguments and bad places."""

import asyncio
import os
import subprocess
from functools import partial
from pathlib import Path

import pytest

from api.cli import main
from api.database import Database
from api.photos.ingest import Added, ingest_photo
from api.photos.signing import KEY_FILE
from api.settings import Settings
from tests.api.photos.builders import jpeg_bytes
from tests.api.survey.builders import add_open_photos, record_test_model
from tests.inference.inference_testkit import without_opening_fifo
from tests.processes import PHOTOSURVEY, photosurvey_environment


@pytest.mark.usefixtures("cli_env")
async def test_a_taken_name_is_refused_on_a_database_the_service_never_prepared(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    await db.contributors.drop_indexes()  # as if the service had never started on it

    first = await asyncio.to_thread(main, ["contributors", "add", "alice"])
    second = await asyncio.to_thread(main, ["contributors", "add", "alice", "--admin"])

    assert (first, second) == (0, 1)
    captured = capsys.readouterr()
    assert "Token for alice" in captured.out
    assert "a contributor named 'alice' exists already" in captured.err
    assert await db.contributors.count_documents({"name": "alice"}) == 1


@pytest.mark.parametrize("name", ["", "two words", "x" * 65, "semi;colon"])
def test_a_bad_contributor_name_is_a_usage_error(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["contributors", "add", name])
    assert exit_.value.code == 2
    assert "is not a valid name; use 1-64 letters, digits or ._@+-" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["missing/schema.graphql", "."])
def test_export_schema_says_when_it_cannot_write(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export-schema", "--output", str(tmp_path / where)]) == 1
    assert f"photosurvey export-schema: cannot write {tmp_path / where}:" in capsys.readouterr().err


@pytest.mark.parametrize("label", ["", "   "])
def test_gold_with_an_empty_label_is_a_usage_error(
    label: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["gold", "a" * 24, label])
    assert exit_.value.code == 2
    assert "the label id must not be empty" in capsys.readouterr().err


@pytest.mark.usefixtures("cli_env")
async def test_gold_refuses_a_label_the_model_does_not_have_naming_the_nearest(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    (photo_id,) = await add_open_photos(db, [0.3])
    await record_test_model(db)
    assert await asyncio.to_thread(main, ["gold", photo_id, "n0099"]) == 1
    assert capsys.readouterr().err == (
        "photosurvey gold: 'n0099' is not a label of model test-model@1, which pre-labelled "
        "the photo; the nearest is 'n99' (label 99)\n"
    )
    assert (await db.photos.find_one({"_id": photo_id}) or {})["status"] == "open"
    assert await asyncio.to_thread(main, ["gold", photo_id, "n998"]) == 0
    assert (await db.photos.find_one({"_id": photo_id}) or {})["status"] == "gold"


def test_serve_stops_before_serving_on_a_short_dev_key(settings: Settings) -> None:
    key_file = settings.data_dir / KEY_FILE
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text("short\n")
    env = photosurvey_environment(
        PHOTOSURVEY_ENV="dev",
        PHOTOSURVEY_MONGODB_URI=str(settings.mongodb_uri),
        PHOTOSURVEY_DB_NAME=settings.db_name,
        PHOTOSURVEY_DATA_DIR=str(settings.data_dir),
    )

    # A process with a timeout: were the key read late, the service would start and serve.
    done = subprocess.run(
        [PHOTOSURVEY, "serve"], env=env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 2
    assert "configuration error" in done.stderr
    assert "holds a key shorter than 32 characters; delete it" in done.stderr
    assert key_file.read_text() == "short\n"  # left for the operator to replace


NAN_MODEL = Path(__file__).resolve().parents[1] / "inference" / "models" / "nan_logits.tflite"


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(
    ("model", "message"),
    [
        (NAN_MODEL, "4 non-finite scores (NaN or infinite)"),
        (Path("no/such/model.tflite"), "no/such/model.tflite"),
    ],
)
async def test_prelabel_refuses_a_model_that_cannot_predict_and_labels_nothing(
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    model: Path,
    message: str,
) -> None:
    added = await ingest_photo(db, jpeg_bytes(), filename="a.jpg", source="import")
    assert isinstance(added, Added)
    photo_id = added.photo.id
    monkeypatch.setenv("PHOTOSURVEY_MODEL_PATH", str(model))

    code = await asyncio.to_thread(main, ["prelabel"])

    assert code == 1
    err = capsys.readouterr().err
    assert "photosurvey: model error:" in err
    assert message in err
    photo = await db.photos.find_one({"_id": photo_id})
    assert photo is not None
    assert photo["status"] == "new"


@pytest.mark.usefixtures("cli_env")
def test_prelabel_refuses_a_model_path_that_is_a_fifo_instead_of_waiting_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "model.tflite"
    os.mkfifo(fifo)
    monkeypatch.setenv("PHOTOSURVEY_MODEL_PATH", str(fifo))
    assert without_opening_fifo(fifo, partial(main, ["prelabel"])) == 1
    err = capsys.readouterr().err
    assert f"model error: cannot read model file {str(fifo)!r}: it is a FIFO, not a" in err


@pytest.mark.usefixtures("cli_env")
async def test_prelabel_labels_what_the_model_can_and_exits_1_naming_how_many_it_failed(
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for colour in ((127, 127, 127), (250, 20, 20)):
        assert isinstance(await ingest_photo(db, jpeg_bytes(colour=colour), filename="a.jpg",
                                             source="import"), Added)  # fmt: skip
    monkeypatch.setenv("PHOTOSURVEY_MODEL_PATH", str(NAN_MODEL.with_name("red_overflow.tflite")))

    code = await asyncio.to_thread(main, ["prelabel"])

    assert code == 1
    out, err = capsys.readouterr()
    assert "pre-labelled 1 photos; 0 could not be read" in out
    red = await db.photos.find_one({"status": "new"})
    assert red is not None
    assert (
        f"photosurvey: model error: this model failed on 1 photos, left 'new' for another "
        f"model: {red['_id']}; the first: the model produced 1 non-finite scores" in err
    )
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [(r.getMessage(), getattr(r, "photos", None)) for r in errors] == [
        ("the model failed on photos; they stay new for another model", [red["_id"]])
    ]
    statuses = sorted([doc["status"] async for doc in db.photos.find()])
    assert statuses == ["new", "open"]

    # Run again with the same model: nothing to do, and still a model error to report.
    assert await asyncio.to_thread(main, ["prelabel"]) == 1
    out, err = capsys.readouterr()
    assert "pre-labelled 0 photos" in out
    assert "this model failed on 1 photos" in err


def test_a_data_dir_the_os_refuses_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PHOTOSURVEY_DATA_DIR", "/tmp/" + "a" * 300)

    assert main(["contributors", "add", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("photosurvey: configuration error: PHOTOSURVEY_DATA_DIR=")
    assert err.endswith("cannot be used as a folder: File name too long\n")


def test_a_tls_file_the_driver_cannot_use_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    monkeypatch.setenv("PHOTOSURVEY_MONGODB_URI", f"mongodb://db/?tls=true&tlsCAFile={not_pem}")

    assert main(["contributors", "add", "x"]) == 2
    assert capsys.readouterr().err.startswith(
        "photosurvey: configuration error: PHOTOSURVEY_MONGODB_URI names TLS files the driver "
        f"cannot use (tlsCAFile={str(not_pem)!r}): [X509: NO_CERTIFICATE_OR_CRL_FOUND]"
    )
