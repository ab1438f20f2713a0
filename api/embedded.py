"""The embedded database: SecantusDB run as a child process on a local port.

SecantusDB speaks the MongoDB wire protocol, so everything else talks to it through the
real driver exactly as it would talk to MongoDB. It is GPL-2.0 and an optional extra: it is
started with ``python -m secantus`` and never imported.

SecantusDB never watches its parent, so this module arranges its death:
- its own process session, so that Ctrl-C in a terminal reaches only the service, which
  then stops the database in order (SIGTERM, then SIGKILL after a timeout);
- ``PR_SET_PDEATHSIG``, so that the kernel kills it when the service dies, even by SIGKILL.
  The signal fires when the *thread* that spawned the child exits, so `EmbeddedDatabase.start`
  and `restart` must be called from a thread that lives as long as the server should: the
  service's is the supervisor's thread (`api.supervisor`).
"""

from __future__ import annotations

import ctypes
import fcntl
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_LOG_TAIL_LINES = 20
# An explicit, empty config file: without --config SecantusDB would pick up a stray
# ./secantusd.toml (or one in ~ or /etc) and silently change its behaviour.
_CONFIG = "# Written by PhotoSurvey. Settings are given on the command line.\n"
_LOCK_FILE = "database.lock"


class EmbeddedDatabaseError(RuntimeError):
    """The embedded database could not be started."""


@dataclass
class EmbeddedDatabase:
    """A running SecantusDB child process and the URI that reaches it."""

    process: subprocess.Popen[bytes]
    storage_path: Path
    port: int
    log_path: Path
    lock: TextIO  # held while the server runs: one server per data folder (`_hold_folder`)

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    @classmethod
    def start(cls, storage_path: Path, *, port: int | None = None) -> EmbeddedDatabase:
        """Spawn the server over `storage_path` (created if missing) on `port` (a free one if
        None); returns at once.

        Call `wait_until_ready` next; it may run in another thread.
        """
        if importlib.util.find_spec("secantus") is None:
            raise EmbeddedDatabaseError(
                "the embedded database needs the 'embedded' extra (package secantusdb): "
                "install photosurvey[embedded], or set PHOTOSURVEY_MONGODB_URI to use MongoDB"
            )
        folder = storage_path.parent
        try:
            storage_path.mkdir(parents=True, exist_ok=True)
            lock = _hold_folder(folder)
        except OSError as exc:
            raise EmbeddedDatabaseError(
                f"cannot use the data folder {folder} (PHOTOSURVEY_DATA_DIR): {exc.strerror or exc}"
            ) from None
        try:
            process, port, log_path = _spawn(storage_path, port)
        except BaseException as exc:
            lock.close()  # the folder is free again, whatever stopped the start
            if isinstance(exc, OSError):
                raise EmbeddedDatabaseError(
                    f"cannot start the embedded database in {folder}: {exc.strerror or exc}"
                ) from None
            raise
        logger.info("embedded database starting", extra={"pid": process.pid, "port": port})
        return cls(
            process=process, storage_path=storage_path, port=port, log_path=log_path, lock=lock
        )

    def restart(self) -> None:
        """Spawn the server again after its process ended; returns at once.

        Same storage and port (a client's URI holds the port), under the folder lock this
        process still holds: a second ``flock`` from this process, on a new descriptor, would
        be refused.
        """
        if self.process.poll() is None:
            raise EmbeddedDatabaseError("the embedded database is running; stop it first")
        try:
            self.process, _, _ = _spawn(self.storage_path, self.port)
        except OSError as exc:
            raise EmbeddedDatabaseError(
                f"cannot restart the embedded database: {exc.strerror or exc}"
            ) from None
        logger.info(
            "embedded database starting", extra={"pid": self.process.pid, "port": self.port}
        )

    def wait_until_ready(self, *, timeout: float = 30.0) -> None:
        """Block until the server listens; raise with its log tail if it will not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise self._failure(f"exited with code {self.process.returncode}")
            # SecantusDB listens only once its storage is open. No driver client here: a
            # client closed right after its first command can leave its monitor's socket
            # behind, and the service's own client proves the protocol at start-up.
            if port_listens(self.port):
                logger.info("embedded database ready", extra={"port": self.port})
                return
            time.sleep(0.1)
        self._stop_process(timeout=10.0)  # the folder stays locked until `stop`
        raise self._failure(f"did not listen within {timeout:.0f} s")

    def stop(self, *, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited after `timeout` seconds; then the data
        folder is free for another server."""
        try:
            self._stop_process(timeout)
        finally:
            self.lock.close()  # closing releases the lock

    def _stop_process(self, timeout: float) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            logger.warning("embedded database ignored SIGTERM; killing it")
            self.process.kill()
            self.process.wait()
        logger.info("embedded database stopped", extra={"code": self.process.returncode})

    def _failure(self, what: str) -> EmbeddedDatabaseError:
        return EmbeddedDatabaseError(
            f"the embedded database {what}. Last lines of {self.log_path}:\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError as exc:
            return f"(log unreadable: {exc})"
        return "\n".join(lines[-_LOG_TAIL_LINES:])


def _spawn(storage_path: Path, port: int | None) -> tuple[subprocess.Popen[bytes], int, Path]:
    """Write the config and start SecantusDB over `storage_path`; its process, port and log."""
    config_path = storage_path.parent / "secantusd.toml"
    config_path.write_text(_CONFIG)
    log_path = storage_path.parent / "database.log"
    port = free_port() if port is None else port
    command = [
        sys.executable, "-m", "secantus",
        "--config", str(config_path),
        "--storage-path", str(storage_path),
        "--host", "127.0.0.1",
        "--port", str(port),
        # Without it a SIGKILL lost acknowledged writes here (DESIGN.md).
        "--sync-on-commit",
    ]  # fmt: skip
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # close_fds (the default): the lock stays ours
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
        )
    return process, port, log_path


def _hold_folder(folder: Path) -> TextIO:
    """Lock the data folder for this process, or say who holds it.

    Two servers on one storage folder cannot both open it: the second one exits with a
    storage error in its log. Checked here first, every command that opens the folder
    (the service, an import, a CLI command while the service runs) gets the same plain
    reason. The lock is the kernel's (`flock`), so it goes with its process, even one
    killed by SIGKILL.
    """
    handle = (folder / _LOCK_FILE).open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise EmbeddedDatabaseError(
            f"the data folder {folder} is in use by {holder}. Only one process may use a "
            "data folder: if the service is running on it, stop it first, or set "
            "PHOTOSURVEY_MONGODB_URI to a MongoDB server both can share"
        ) from None
    try:
        handle.truncate(0)
        handle.write(f"process {os.getpid()} ({' '.join(sys.argv[:2]) or 'python'})\n")
        handle.flush()
    except BaseException:
        handle.close()
        raise
    return handle


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_listens(port: int) -> bool:
    """Whether something accepts TCP connections on the loopback `port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.25):
            return True
    except OSError:
        return False


def _die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to SIGKILL the child when its parent dies."""
    if not sys.platform.startswith("linux"):
        return None  # prctl is Linux-only; elsewhere only an orderly stop reaches the child

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            os._exit(120)
        # The parent may have died between fork and prctl; then nobody would kill us.
        if os.getppid() != parent_pid:
            os._exit(121)

    return preexec
