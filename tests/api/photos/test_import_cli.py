import asyncio
import os
from pathlib import Path

import pytest

from api.cli import main
from api.database import Database
from api.embedded import EmbeddedDatabase
from api.photos import files
from tests.api.photos.builders import (
    jpeg_bytes,
    png_bytes,
    png_header_bomb,
    scan_bomb_jpeg,
    tiff_bytes,
    webp_bytes,
)


async def _run(*argv: str) -> int:
    # The command runs its own event loop, as from a shell.
    return await asyncio.to_thread(main, ["import", *argv])


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.mark.usefixtures("cli_env")
async def test_files_and_folders_are_imported(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    single = _write(tmp_path / "in" / "one.jpg", jpeg_bytes(500, 400))
    _write(tmp_path / "album" / "a.png", png_bytes())
    _write(tmp_path / "album" / "deep" / "b.webp", webp_bytes())
    _write(tmp_path / "album" / ".hidden" / "c.jpg", jpeg_bytes(100, 100))

    code = await _run(str(single), str(tmp_path / "album"))

    out = capsys.readouterr().out
    assert code == 0
    assert "imported 3, duplicates 0, rejected 0" in out
    names = {doc["filename"] async for doc in db.photos.find({}, {"filename": 1})}
    assert names == {"one.jpg", "a.png", "b.webp"}
    assert await db.photos.count_documents({"source": "import", "status": "new"}) == 3


@pytest.mark.usefixtures("cli_env")
async def test_duplicates_are_skipped(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _write(tmp_path / "a.jpg", jpeg_bytes())
    copy = _write(tmp_path / "copy of a.jpg", jpeg_bytes())

    assert await _run(str(first)) == 0
    assert await _run(str(first), str(copy)) == 0

    captured = capsys.readouterr()
    assert "imported 0, duplicates 2, rejected 0" in captured.out
    photo_id = (await db.photos.find_one({}) or {})["_id"]
    assert f"copy of a.jpg: duplicate of {photo_id}" in captured.err
    assert await db.photos.count_documents({}) == 1


@pytest.mark.usefixtures("cli_env")
async def test_each_rejected_file_is_reported_with_its_reason(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mixed"
    _write(folder / "good.jpg", jpeg_bytes())
    bad = {
        "tiff.jpg": (tiff_bytes(), "TIFF"),
        "truncated.jpg": (jpeg_bytes(800, 600)[:1500], "cannot be decoded"),
        "empty.png": (b"", "empty (0 bytes)"),
        "bomb.png": (png_header_bomb(), "20000x20000"),
        "scans.jpg": (scan_bomb_jpeg(), "300 scans"),
    }
    for name, (data, _) in bad.items():
        _write(folder / name, data)

    code = await _run(str(folder))

    captured = capsys.readouterr()
    assert code == 1
    assert "imported 1, duplicates 0, rejected 5" in captured.out
    lines = captured.err.splitlines()
    for name, (_, reason) in bad.items():
        assert any(f"{name}: rejected:" in line and reason in line for line in lines), name
    assert await db.photos.count_documents({}) == 1


@pytest.mark.usefixtures("cli_env")
async def test_files_in_a_folder_that_are_not_images_are_skipped_and_counted(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "takeout"
    _write(folder / "a.jpg", jpeg_bytes(500, 400))
    _write(folder / "b", png_bytes())  # an image by its content, whatever its name
    _write(folder / "notes.txt", b"shot on the beach\n")
    _write(folder / "a.jpg.json", b'{"title": "a.jpg"}')
    _write(folder / "album.pdf", b"%PDF-1.7 not a photo")

    code = await _run(str(folder))

    captured = capsys.readouterr()
    assert code == 0
    assert "imported 2, duplicates 0, rejected 0, skipped 3 (not images)" in captured.out
    assert "notes.txt" not in captured.err
    assert await db.photos.count_documents({}) == 2


@pytest.mark.usefixtures("cli_env")
async def test_a_folder_without_photos_imports_nothing_and_says_so(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "docs" / "notes.txt", b"nothing to see\n")

    code = await _run(str(tmp_path / "docs"))

    assert code == 1
    assert "no photo files to import; skipped 1 (not images)" in capsys.readouterr().err
    assert await db.photos.count_documents({}) == 0


@pytest.mark.usefixtures("cli_env")
async def test_a_file_named_on_the_command_line_is_taken_as_a_photo(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = _write(tmp_path / "notes.txt", b"not a photo\n")
    photo = _write(tmp_path / "a.jpg", jpeg_bytes())

    code = await _run(str(notes), str(photo))

    captured = capsys.readouterr()
    assert code == 1
    assert "imported 1, duplicates 0, rejected 1, skipped 0 (not images)" in captured.out
    assert f"{notes}: rejected: the image is not a recognised image" in captured.err


@pytest.mark.usefixtures("cli_env")
async def test_an_image_too_small_to_be_a_photo_is_rejected_naming_the_minimum(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "icons"
    _write(folder / "pixel.png", png_bytes(1, 1))
    _write(folder / "strip.jpg", jpeg_bytes(400, 31))
    _write(folder / "smallest.png", png_bytes(32, 32))

    code = await _run(str(folder))

    captured = capsys.readouterr()
    assert code == 1
    assert "imported 1, duplicates 0, rejected 2" in captured.out
    minimum = "a photo must be at least 32 pixels on its shorter side"
    assert f"pixel.png: rejected: the image is 1x1 pixels; {minimum}" in captured.err
    assert f"strip.jpg: rejected: the image is 400x31 pixels; {minimum}" in captured.err
    assert await db.photos.count_documents({}) == 1


@pytest.mark.usefixtures("cli_env")
async def test_a_fifo_and_a_file_over_the_limit_are_rejected_without_reading_them(
    db: Database,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PHOTOSURVEY_MAX_UPLOAD_BYTES", "2048")
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)  # reading it would block for ever
    big = _write(tmp_path / "big.jpg", jpeg_bytes(800, 600))
    small = _write(tmp_path / "small.png", png_bytes(40, 40))

    code = await asyncio.wait_for(_run(str(fifo), str(big), str(small)), timeout=60)

    captured = capsys.readouterr()
    assert code == 1
    assert "imported 1, duplicates 0, rejected 2" in captured.out
    assert f"{fifo}: rejected: not a regular file" in captured.err
    assert f"{big}: rejected: the file is {big.stat().st_size:,} bytes; the limit is 2,048" in (
        captured.err
    )
    assert await db.photos.count_documents({}) == 1


@pytest.mark.usefixtures("cli_env")
async def test_a_file_whose_name_cannot_be_stored_is_rejected_and_the_rest_imported(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "names"
    _write(folder / os.fsdecode(b"not-utf8-\xff.png"), png_bytes(40, 40))  # a surrogate
    _write(folder / "tab\tname.png", png_bytes(41, 41))
    _write(folder / "fine.png", png_bytes(42, 42))

    code = await _run(str(folder))

    captured = capsys.readouterr()
    assert code == 1
    assert "imported 1, duplicates 0, rejected 2" in captured.out
    assert captured.err.count("rejected: its name must not contain control characters") == 2
    assert "not-utf8-\\xff.png: rejected" in captured.err  # shown, escaped
    assert await db.photos.count_documents({}) == 1
    assert await db[files.FILES].count_documents({}) == 2  # the one photo's original and copy


@pytest.mark.usefixtures("cli_env")
async def test_a_missing_path_is_a_usage_error(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write(tmp_path / "a.jpg", jpeg_bytes())

    code = await _run(str(good), str(tmp_path / "nowhere"))

    assert code == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert await db.photos.count_documents({}) == 0


def test_no_path_at_all_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["import"])
    assert exit_.value.code == 2


def test_a_data_folder_in_use_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PHOTOSURVEY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PHOTOSURVEY_ENV", "dev")
    monkeypatch.delenv("PHOTOSURVEY_MONGODB_URI", raising=False)
    photo = _write(tmp_path / "a.jpg", jpeg_bytes())
    running = EmbeddedDatabase.start(tmp_path / "db")  # as if the service were running
    try:
        running.wait_until_ready()
        code = main(["import", str(photo)])
    finally:
        running.stop()

    err = capsys.readouterr().err
    assert code == 2
    assert "Only one process may use a data folder" in err
    assert "PHOTOSURVEY_MONGODB_URI" in err
