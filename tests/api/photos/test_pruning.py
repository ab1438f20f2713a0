"""Files an interrupted upload leaves behind are found and removed; nothing else is."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from bson import Binary, ObjectId

from api.cli import main
from api.database import Database
from api.photos import files
from api.photos.ingest import Added, ingest_photo
from api.photos.pruning import Pruned, prune_files
from tests.api.photos.builders import jpeg_bytes, png_bytes

FILES, CHUNKS = files.FILES, files.CHUNKS


def _soon() -> datetime:
    """A moment every file written so far is older than (file ids have whole seconds)."""
    return datetime.now(UTC) + timedelta(seconds=2)


async def _stored_photo(db: Database, data: bytes) -> Added:
    result = await ingest_photo(db, data, filename="kept.jpg", source="import")
    assert isinstance(result, Added)
    return result


async def _interrupted_upload(db: Database, data: bytes) -> Added:
    """An upload stopped after its files, before its photo record: the record is taken away."""
    result = await _stored_photo(db, data)
    await db.photos.delete_one({"_id": result.photo.id})
    return result


async def _incomplete_file(db: Database, file_id: ObjectId | None = None) -> ObjectId:
    """Chunks written, files document not: a stop inside `put_file`."""
    file_id = file_id or ObjectId()
    await db[CHUNKS].insert_one({"files_id": file_id, "n": 0, "data": Binary(b"partial")})
    return file_id


async def test_files_of_an_interrupted_upload_are_removed_and_a_photos_files_kept(
    db: Database,
) -> None:
    kept = await _stored_photo(db, jpeg_bytes(640, 480))
    lost = await _interrupted_upload(db, png_bytes())
    lost_ids = [lost.photo.original_file_id, lost.photo.small_file_id]
    lost_bytes = sum(
        [(await db[FILES].find_one({"_id": file_id}) or {})["length"] for file_id in lost_ids]
    )
    incomplete = await _incomplete_file(db)

    pruned = await prune_files(db, written_before=_soon())

    assert pruned == Pruned(files=2, size_bytes=lost_bytes, incomplete=1)
    assert await db[FILES].count_documents({"_id": {"$in": lost_ids}}) == 0
    assert await db[CHUNKS].count_documents({"files_id": {"$in": [*lost_ids, incomplete]}}) == 0
    assert await files.read_file(db, kept.photo.original_file_id) == jpeg_bytes(640, 480)
    assert await files.read_file(db, kept.photo.small_file_id)
    # The same bytes can be uploaded again, and are stored whole.
    again = await _stored_photo(db, png_bytes())
    assert await files.read_file(db, again.photo.original_file_id) == png_bytes()


async def test_a_second_copy_of_a_stored_photo_is_removed_and_the_first_kept(
    db: Database,
) -> None:
    # The same bytes uploaded twice at once: the second upload, finding the photo stored,
    # deletes its own files; stopped before that, they carry the stored photo's id.
    kept = await _stored_photo(db, jpeg_bytes())
    stray = await files.put_file(
        db, jpeg_bytes(), photo_id=kept.photo.id, filename="kept.jpg", content_type="image/jpeg"
    )

    pruned = await prune_files(db, written_before=_soon())

    assert pruned == Pruned(files=1, size_bytes=len(jpeg_bytes()), incomplete=0)
    assert await files.read_file(db, stray) is None
    assert await files.read_file(db, kept.photo.original_file_id) == jpeg_bytes()
    assert await files.read_file(db, kept.photo.small_file_id)


async def test_a_removal_stopped_half_way_is_finished_by_the_next_run(db: Database) -> None:
    lost = await _interrupted_upload(db, png_bytes())
    original = lost.photo.original_file_id
    await db[CHUNKS].delete_many({"files_id": original})  # as far as `delete_files` got

    pruned = await prune_files(db, written_before=_soon())

    assert pruned.files == 2
    assert await db[FILES].count_documents({"_id": original}) == 0


async def test_a_dry_run_reports_and_removes_nothing(db: Database) -> None:
    lost = await _interrupted_upload(db, png_bytes())
    await _incomplete_file(db)
    stored = await db[FILES].count_documents({}), await db[CHUNKS].count_documents({})

    pruned = await prune_files(db, written_before=_soon(), dry_run=True)

    assert (pruned.files, pruned.incomplete) == (2, 1)
    assert (
        pruned.size_bytes
        == lost.photo.size_bytes
        + ((await db[FILES].find_one({"_id": lost.photo.small_file_id}) or {})["length"])
    )
    assert (await db[FILES].count_documents({}), await db[CHUNKS].count_documents({})) == stored


async def test_files_written_after_the_moment_are_left_alone(db: Database) -> None:
    lost = await _interrupted_upload(db, png_bytes())
    incomplete = await _incomplete_file(db)

    pruned = await prune_files(db, written_before=datetime.now(UTC) - timedelta(minutes=10))

    assert pruned == Pruned(files=0, size_bytes=0, incomplete=0)
    assert await files.read_file(db, lost.photo.original_file_id) == png_bytes()
    assert await db[CHUNKS].count_documents({"files_id": incomplete}) == 1


async def test_a_file_that_does_not_record_its_photo_is_left_alone(db: Database) -> None:
    # Written before files recorded their photo: nothing can tell whether a photo uses it.
    lost = await _interrupted_upload(db, png_bytes())
    await db[FILES].update_many({}, {"$unset": {"metadata.photo": ""}})

    pruned = await prune_files(db, written_before=_soon())

    assert pruned == Pruned(files=0, size_bytes=0, incomplete=0)
    assert await files.read_file(db, lost.photo.original_file_id) == png_bytes()


async def _prune_command(*argv: str) -> int:
    return await asyncio.to_thread(main, ["prune-files", *argv])  # its own event loop


@pytest.mark.usefixtures("cli_env")
async def test_the_command_removes_only_files_older_than_its_grace(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = await _stored_photo(db, jpeg_bytes())
    await _interrupted_upload(db, png_bytes())  # minutes old at most: within the grace
    two_hours_ago = ObjectId.from_datetime(datetime.now(UTC) - timedelta(hours=2))
    old = await _incomplete_file(db, two_hours_ago)
    counted = await db[FILES].count_documents({})

    assert await _prune_command("--dry-run") == 0
    assert "would remove 0 files" in capsys.readouterr().out
    assert await db[CHUNKS].count_documents({"files_id": old}) == 1

    assert await _prune_command("--older-than", "60") == 0

    out = capsys.readouterr().out
    assert "removed 0 files that no photo refers to (0 bytes)" in out
    assert "the chunks of 1 file never completed" in out
    assert await db[CHUNKS].count_documents({"files_id": old}) == 0
    assert await db[FILES].count_documents({}) == counted
    assert await files.read_file(db, kept.photo.original_file_id) == jpeg_bytes()


@pytest.mark.usefixtures("cli_env")
async def test_the_command_runs_on_a_database_the_service_never_prepared(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    await db[CHUNKS].drop_indexes()  # its search for incomplete files hints the chunks index

    assert await _prune_command() == 0

    assert "removed 0 files" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--older-than", "5"], "must be at least 10 minutes, not 5"),
        (["--older-than", "-60"], "must be at least 10 minutes, not -60"),
        (["--older-than", "999999999999"], "999999999999 minutes ago is before 1970"),
        (["--older-than", "an hour"], "'an hour' is not a whole number of minutes"),
        (["--older-than"], "expected one argument"),
        (["--everything"], "unrecognized arguments: --everything"),
    ],
)
def test_bad_arguments_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["prune-files", *argv])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
