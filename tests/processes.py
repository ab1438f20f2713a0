"""Helpers to find and wait for processes, read from /proc (the service targets Linux)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from api.embedded import free_port, port_listens
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


SECRET_KEY = "test-secret-key-not-for-production-0123456789"


class ServiceProcess:
    """A real `photosurvey serve` process on the test's database (an embedded server of its
    own when `settings` name no URI), in production mode with the pre-label worker off; its
    log in `log_path`."""

    def __init__(self, settings: Settings, *, log_path: Path, **variables: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        uri = (
            {}
            if settings.mongodb_uri is None
            else {"PHOTOSURVEY_MONGODB_URI": settings.mongodb_uri}
        )
        env = photosurvey_environment(
            **uri,
            PHOTOSURVEY_DB_NAME=settings.db_name,
            PHOTOSURVEY_DATA_DIR=str(settings.data_dir),
            PHOTOSURVEY_PORT=str(self.port),
            PHOTOSURVEY_ENV="production",
            PHOTOSURVEY_SECRET_KEY=SECRET_KEY,
            PHOTOSURVEY_PRELABEL_WORKER="off",
            PHOTOSURVEY_EXPLORATION="0",
            PHOTOSURVEY_LOG_LEVEL="WARNING",
            **variables,
        )
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [PHOTOSURVEY, "serve"], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_until_ready(self, *, timeout: float = 60.0) -> None:
        try:
            wait_until_ready(self.base_url, self.process, timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the log ends:\n{self.log_tail()}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def running_services(settings: Settings, count: int, *, log_dir: Path) -> Iterator[list[str]]:
    """`count` service processes on the test's database; yields their base URLs."""
    services = [
        ServiceProcess(settings, log_path=log_dir / f"service-{i}.log") for i in range(count)
    ]
    try:
        for service in services:
            service.wait_until_ready()
        yield [service.base_url for service in services]
    finally:
        for service in services:
            service.stop()
