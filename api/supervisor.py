"""Supervision of the embedded database: notice when its process dies and start it again.

One thread owns the server from its first start to its stop. The kernel's parent-death
signal ties the server to the thread that spawned it (`api.embedded`), so every start and
restart happens on this thread, which lives as long as the supervisor. It needs no event
loop and imports no web framework: a parent process may supervise the database and hand
its URI to workers.

    STARTING ─► RUNNING ◄──────────────┐
        │          │ the process died   │ a restart listens
        ▼          ▼                    │
     (start    RESTARTING ──────────────┘
      fails)       │ RESTART_DELAYS tried, in vain
                   ▼
                 FAILED (until the service restarts)

    stop(): any state ─► STOPPED

Restarts wait `RESTART_DELAYS` before each try. The tries are counted since the server
last stayed up `STABLE_AFTER_SECONDS`, so a server that keeps dying soon after each start
also ends in FAILED instead of restarting for ever.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from api.embedded import EmbeddedDatabase, EmbeddedDatabaseError

logger = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 0.5
RESTART_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
# A server killed now and then (by an operator, the OOM killer) is restarted every time; one
# that dies again within this long of each restart is crash-looping, and its tries run out.
STABLE_AFTER_SECONDS = 5.0
READY_TIMEOUT_SECONDS = 30.0


class DatabaseState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class DatabaseStatus:
    """What the supervisor knows of the server; `detail` says why it is not running."""

    state: DatabaseState
    restarts: int = 0
    """Restarts that brought the server back since the supervisor started it."""
    detail: str | None = None

    @property
    def running(self) -> bool:
        return self.state is DatabaseState.RUNNING


class DatabaseSupervisor:
    """The embedded database over `storage_path`, kept running by a thread of its own."""

    def __init__(self, storage_path: Path) -> None:
        self._storage_path = storage_path
        # Replaced whole, never changed: readers in other threads see one status or the next.
        self._status = DatabaseStatus(DatabaseState.STARTING)
        self._started = threading.Event()
        self._stopping = threading.Event()
        self._server: EmbeddedDatabase | None = None
        self._start_error: EmbeddedDatabaseError | None = None
        self._thread = threading.Thread(
            target=self._run, name="embedded-database-supervisor", daemon=True
        )

    def start(self) -> str:
        """Start the server and its supervision; block until it listens. The URI that
        reaches it (the same across restarts); `EmbeddedDatabaseError` if it will not start."""
        self._thread.start()
        self._started.wait()
        if self._start_error is not None:
            raise self._start_error
        assert self._server is not None
        return self._server.uri

    def status(self) -> DatabaseStatus:
        return self._status

    def stop(self) -> None:
        """Stop supervising, then the server (in order, from the supervisor's thread)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        try:
            server = self._first_start()
        except EmbeddedDatabaseError as exc:
            self._start_error = exc
            self._status = DatabaseStatus(DatabaseState.STOPPED, detail=str(exc))
            self._started.set()
            return
        self._server = server
        self._status = DatabaseStatus(DatabaseState.RUNNING)
        self._started.set()
        try:
            self._watch(server)
        except Exception:
            logger.exception("embedded database supervisor failed; stopping the database")
        finally:
            server.stop()
            self._status = DatabaseStatus(
                DatabaseState.STOPPED, restarts=self._status.restarts, detail="stopped"
            )

    def _first_start(self) -> EmbeddedDatabase:
        server = EmbeddedDatabase.start(self._storage_path)
        try:
            server.wait_until_ready(timeout=READY_TIMEOUT_SECONDS)
        except BaseException:
            server.stop()
            raise
        return server

    def _watch(self, server: EmbeddedDatabase) -> None:
        """Until stopped: restart the server whenever its process ends, or give up."""
        tries = 0  # since the server last stayed up STABLE_AFTER_SECONDS
        up_since = time.monotonic()
        while not self._stopping.wait(CHECK_EVERY_SECONDS):
            code = server.process.poll()
            if code is None:
                if time.monotonic() - up_since >= STABLE_AFTER_SECONDS:
                    tries = 0
                continue
            logger.error(
                "embedded database exited; restarting it",
                extra={"pid": server.process.pid, "code": code, "log": str(server.log_path)},
            )
            down_since = time.monotonic()
            tries = self._restart(server, code=code, tries=tries)
            if self._stopping.is_set():
                return
            if not self._status.running:
                self._stopping.wait()  # FAILED until the service stops
                return
            up_since = time.monotonic()
            logger.warning(
                "embedded database restarted",
                extra={
                    "pid": server.process.pid,
                    "down_seconds": round(up_since - down_since, 2),
                    "restarts": self._status.restarts,
                },
            )

    def _restart(self, server: EmbeddedDatabase, *, code: int, tries: int) -> int:
        """Try to bring the server back, from try `tries + 1`; the tries used so far. The
        status ends RUNNING, or FAILED when every try failed (or the supervisor stops)."""
        restarts = self._status.restarts
        exited = f"the embedded database exited (code {code})"
        while tries < len(RESTART_DELAYS):
            delay = RESTART_DELAYS[tries]
            tries += 1
            self._status = DatabaseStatus(
                DatabaseState.RESTARTING,
                restarts=restarts,
                detail=f"{exited}; restart {tries} of {len(RESTART_DELAYS)} in {delay:g} s",
            )
            if self._stopping.wait(delay):
                return tries
            try:
                server.restart()
                server.wait_until_ready(timeout=READY_TIMEOUT_SECONDS)
            except EmbeddedDatabaseError as exc:
                logger.error(
                    "embedded database restart failed",
                    extra={"try": tries, "of": len(RESTART_DELAYS), "reason": str(exc)},
                )
                continue
            self._status = DatabaseStatus(DatabaseState.RUNNING, restarts=restarts + 1)
            return tries
        self._status = DatabaseStatus(
            DatabaseState.FAILED,
            restarts=restarts,
            # The tries either failed or brought back a server that died again soon.
            detail=f"{exited}; {len(RESTART_DELAYS)} restarts did not keep it running; see "
            f"{server.log_path.name} in the data folder, then restart the service",
        )
        logger.error(
            "embedded database not restarted: giving up", extra={"tries": len(RESTART_DELAYS)}
        )
        return tries
