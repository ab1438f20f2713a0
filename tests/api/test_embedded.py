import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from api.database import connect
from api.embedded import EmbeddedDatabase, EmbeddedDatabaseError
from tests.processes import children_of, command_line, is_running, wait_until_gone


async def test_a_document_survives_a_restart(tmp_path: Path) -> None:
    storage = tmp_path / "db"
    first = EmbeddedDatabase.start(storage)
    try:
        first.wait_until_ready()
        client = connect(first.uri)
        await client.survey.photos.insert_one({"_id": "p1", "name": "astronaut"})
        await client.close()
    finally:
        first.stop()
    assert first.process.returncode == 0

    second = EmbeddedDatabase.start(storage)
    try:
        second.wait_until_ready()
        client = connect(second.uri)
        found = await client.survey.photos.find_one({"_id": "p1"})
        await client.close()
    finally:
        second.stop()
    assert found == {"_id": "p1", "name": "astronaut"}


def test_a_second_server_on_the_same_folder_is_refused_naming_the_holder(
    tmp_path: Path,
) -> None:
    storage = tmp_path / "db"
    first = EmbeddedDatabase.start(storage)
    try:
        first.wait_until_ready()
        children = set(children_of(os.getpid()))  # the suite's own database server among them
        with pytest.raises(EmbeddedDatabaseError) as caught:
            EmbeddedDatabase.start(storage)
        message = str(caught.value)
        assert f"the data folder {tmp_path} is in use by process {os.getpid()}" in message
        assert "PHOTOSURVEY_MONGODB_URI" in message
        assert set(children_of(os.getpid())) == children  # no second server was spawned
    finally:
        first.stop()
    again = EmbeddedDatabase.start(storage)  # stopping freed the folder
    again.stop()


def test_a_server_that_exits_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    # Two data folders whose storage is one directory: the folder locks differ, so the
    # second server starts, and exits when it cannot open the storage the first one holds.
    storage = tmp_path / "a" / "db"
    first = EmbeddedDatabase.start(storage)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "db").symlink_to(storage)
    try:
        first.wait_until_ready()
        second = EmbeddedDatabase.start(tmp_path / "b" / "db")
        try:
            with pytest.raises(EmbeddedDatabaseError) as caught:
                second.wait_until_ready(timeout=20)
        finally:
            second.stop()
        assert "exited with code" in str(caught.value)
        assert f"Last lines of {tmp_path / 'b' / 'database.log'}" in str(caught.value)
        assert not is_running(second.process.pid)
    finally:
        first.stop()


def test_a_database_folder_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("a file where the data folder belongs")
    with pytest.raises(EmbeddedDatabaseError, match=r"cannot use the data folder .*var \(PHOTO"):
        EmbeddedDatabase.start(tmp_path / "var" / "db")


def test_a_start_that_fails_after_the_lock_gives_the_folder_back(tmp_path: Path) -> None:
    (tmp_path / "secantusd.toml").mkdir()  # the config cannot be written
    with pytest.raises(EmbeddedDatabaseError, match="cannot start the embedded database in"):
        EmbeddedDatabase.start(tmp_path / "db")
    (tmp_path / "secantusd.toml").rmdir()
    server = EmbeddedDatabase.start(tmp_path / "db")  # not "in use by" this very process
    server.stop()


async def test_a_stray_config_file_in_the_working_directory_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Auto-discovered ./secantusd.toml would move the server to this port.
    (tmp_path / "secantusd.toml").write_text('port = 1\nstorage_path = "/nonexistent"\n')
    monkeypatch.chdir(tmp_path)
    server = EmbeddedDatabase.start(tmp_path / "data" / "db")
    try:
        server.wait_until_ready()
        client = connect(server.uri)
        pong = await client.admin.command("ping")
        await client.close()
    finally:
        server.stop()
    assert pong["ok"] == 1


def test_the_server_dies_with_a_parent_killed_by_sigkill(tmp_path: Path) -> None:
    parent_code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from api.embedded import EmbeddedDatabase
        server = EmbeddedDatabase.start(Path({str(tmp_path / "db")!r}))
        server.wait_until_ready()
        print("ready", flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == b"ready"
        (child,) = children_of(parent.pid)
        assert "secantus" in command_line(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert wait_until_gone(child), f"database process {child} outlived its parent"
        EmbeddedDatabase.start(tmp_path / "db").stop()  # and its folder lock died with it
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()


def test_stop_is_idempotent(tmp_path: Path) -> None:
    server = EmbeddedDatabase.start(tmp_path / "db")
    server.wait_until_ready()
    started = time.monotonic()
    server.stop()
    server.stop()
    assert not is_running(server.process.pid)
    assert time.monotonic() - started < 15
