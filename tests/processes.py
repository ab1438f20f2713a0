"""Helpers to find and wait for processes, read from /proc (the service targets Linux)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from api.embedded import port_listens
from api.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def children_of(pid: int) -> list[int]:
    """Pids whose parent is `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def is_running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until_gone(pid: int, *, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(pid):
            return True
        time.sleep(0.05)
    return False


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


PHOTOSURVEY = str(Path(sys.executable).with_name("photosurvey"))


def photosurvey_environment(**variables: str) -> dict[str, str]:
    """This process's environment without any PHOTOSURVEY_ setting, plus `variables`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOSURVEY_")}
    return clean | variables


def run_photosurvey(settings: Settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The real `photosurvey` command, on the test's database."""
    env = photosurvey_environment(
        PHOTOSURVEY_MONGODB_URI=str(settings.mongodb_uri),
        PHOTOSURVEY_DB_NAME=settings.db_name,
        PHOTOSURVEY_DATA_DIR=str(settings.data_dir),
    )
    return subprocess.run(
        [PHOTOSURVEY, *arguments], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )


def wait_until_ready(
    base_url: str, process: subprocess.Popen[bytes], *, timeout: float = 60
) -> None:
    """Wait until the `photosurvey serve` `process` at `base_url` answers ``/readyz`` 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "photosurvey serve exited during start-up"
        # Ask over HTTP only once the port listens: a refused httpx connection leaves its
        # socket to the garbage collector (a ResourceWarning, an error in this suite).
        port = int(base_url.rsplit(":", 1)[1])
        if port_listens(port) and httpx.get(f"{base_url}/readyz", timeout=5).status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError(f"{base_url}/readyz never answered 200")
