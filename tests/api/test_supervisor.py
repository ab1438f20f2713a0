"""The supervisor alone, without the service: the traps of restarting the embedded database
(its folder lock, its port, the thread its parent-death signal is tied to)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from api import supervisor as supervisor_module
from api.database import connect
from api.embedded import EmbeddedDatabase, EmbeddedDatabaseError
from api.supervisor import DatabaseState, DatabaseStatus, DatabaseSupervisor
from tests.processes import children_of, command_line, wait_until_gone


def _server_pids(storage: Path) -> list[int]:
    return [pid for pid in children_of(os.getpid()) if str(storage) in command_line(pid)]


def _wait_for(supervisor: DatabaseSupervisor, restarts: int) -> DatabaseStatus:
    """The status once the server runs after `restarts` restarts, or has failed."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = supervisor.status()
        if (status.running and status.restarts == restarts) or status.state is DatabaseState.FAILED:
            return status
        time.sleep(0.05)
    return supervisor.status()


async def test_a_killed_server_comes_back_on_its_port_with_its_data_and_folder_lock(
    tmp_path: Path,
) -> None:
    storage = tmp_path / "db"
    supervisor = DatabaseSupervisor(storage)
    uri = supervisor.start()
    try:
        client = connect(uri)
        await client.survey.answers.insert_one({"_id": "a1"})  # acknowledged
        await client.close()
        (first,) = _server_pids(storage)
        os.kill(first, signal.SIGKILL)
        status = _wait_for(supervisor, restarts=1)
        (second,) = _server_pids(storage)
        client = connect(uri)  # the same URI: the same port
        found = await client.survey.answers.find_one({"_id": "a1"})
        await client.close()
        # The folder stays this process's the whole time: nobody else may open it.
        with pytest.raises(EmbeddedDatabaseError, match=f"in use by process {os.getpid()}"):
            EmbeddedDatabase.start(storage)
    finally:
        supervisor.stop()
    assert status == DatabaseStatus(DatabaseState.RUNNING, restarts=1)
    assert second != first
    assert found == {"_id": "a1"}
    assert supervisor.status().state is DatabaseState.STOPPED
    assert wait_until_gone(second)
    EmbeddedDatabase.start(storage).stop()  # stopping gave the folder back


def test_a_restarted_server_dies_with_a_parent_killed_by_sigkill(tmp_path: Path) -> None:
    # Restarted from a thread that has ended, the server would be killed at once by its
    # parent-death signal; restarted from one that lives on, it must still die with the
    # process.
    parent_code = textwrap.dedent(
        f"""
        import os, signal, time
        from pathlib import Path
        from api.supervisor import DatabaseSupervisor
        supervisor = DatabaseSupervisor(Path({str(tmp_path / "db")!r}))
        supervisor.start()
        print("ready", flush=True)
        first = int(input())
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while supervisor.status().restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        print(supervisor.status().restarts, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert parent.stdin is not None
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == b"ready"
        first = _one_server_of(parent.pid)
        parent.stdin.write(f"{first}\n".encode())
        parent.stdin.flush()
        assert parent.stdout.readline().strip() == b"1"  # restarts
        time.sleep(1.0)  # a server killed with an ended thread would be gone by now
        second = _one_server_of(parent.pid)
        assert second != first
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert wait_until_gone(second), f"restarted database {second} outlived its parent"
    finally:
        parent.kill()
        parent.wait()
        for stream in (parent.stdin, parent.stdout):
            if stream is not None:
                stream.close()


def _one_server_of(pid: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        servers = [c for c in children_of(pid) if "secantus" in command_line(c)]
        if len(servers) == 1:
            return servers[0]
        time.sleep(0.05)
    raise AssertionError(f"process {pid} runs no single database server")


@pytest.mark.parametrize(
    ("stable_after", "state"),
    [
        (0.5, DatabaseState.RUNNING),  # killed now and then: restarted every time
        (60.0, DatabaseState.FAILED),  # dies again soon after each restart: tries run out
    ],
    ids=["now-and-then", "crash-loop"],
)
def test_tries_run_out_only_for_a_server_that_keeps_dying_soon_after_each_restart(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stable_after: float,
    state: DatabaseState,
) -> None:
    monkeypatch.setattr(supervisor_module, "RESTART_DELAYS", (0.1, 0.1))
    monkeypatch.setattr(supervisor_module, "STABLE_AFTER_SECONDS", stable_after)
    storage = tmp_path / "db"
    supervisor = DatabaseSupervisor(storage)
    supervisor.start()
    try:
        for kills in range(1, 4):  # one more than the tries
            (server,) = _server_pids(storage)
            os.kill(server, signal.SIGKILL)
            status = _wait_for(supervisor, restarts=kills)
            if not status.running:
                break
            time.sleep(1.5)  # up longer than 0.5 s (and a check every 0.5 s), shorter than 60 s
    finally:
        supervisor.stop()
    assert (kills, status.state) == (3, state)
    assert status.restarts == (3 if state is DatabaseState.RUNNING else 2)
