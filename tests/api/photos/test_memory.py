"""The service process's memory under large photos, read from /proc by the test: the real
`photosurvey serve` process, on the test's database, as clients would use it."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from PIL import Image

from api.database import Database
from api.embedded import free_port, port_listens
from api.photos.ingest import Added, ingest_photo
from api.settings import Settings
from tests.api.photos.builders import ADD_PHOTO, bearer, jpeg_bytes, noise_png
from tests.processes import PHOTOSURVEY, photosurvey_environment

MIB = 1024 * 1024


def _memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def _reset_peak(pid: int) -> None:
    """VmHWM := VmRSS (Linux >= 4.0)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def _peak_growth(pid: int, run: Awaitable[object]) -> int:
    """How far `pid`'s resident memory rose above its level before `run`, in bytes."""
    baseline = _memory_kib(pid)["VmRSS"]
    _reset_peak(pid)
    await run
    return (_memory_kib(pid)["VmHWM"] - baseline) * 1024


@contextmanager
def _service(settings: Settings, tmp_path: Path) -> Iterator[tuple[int, str]]:
    """The real `photosurvey serve` process on the test's database: its pid and URL."""
    port = free_port()
    environ = photosurvey_environment(
        PHOTOSURVEY_MONGODB_URI=str(settings.mongodb_uri),
        PHOTOSURVEY_DB_NAME=settings.db_name,
        PHOTOSURVEY_DATA_DIR=str(tmp_path / "var"),
        PHOTOSURVEY_PORT=str(port),
        PHOTOSURVEY_ENV="dev",
        PHOTOSURVEY_PRELABEL_WORKER="off",
        PHOTOSURVEY_LOG_LEVEL="WARNING",
    )
    process = subprocess.Popen(
        [PHOTOSURVEY, "serve"], env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not port_listens(port):
            assert process.poll() is None, "photosurvey serve exited during start-up"
            assert time.monotonic() < deadline, "photosurvey serve did not listen within 60 s"
            time.sleep(0.1)
        yield process.pid, f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()


async def _fetch_together(
    http: httpx.AsyncClient, url: str, *, headers: dict[str, str], together: asyncio.Barrier
) -> bytes:
    """GET `url`, reading the body only once every client has its headers (clients slower
    than the service: whatever it holds for an answer it has started, it holds for all)."""
    async with http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        await together.wait()
        return await response.aread()


async def test_concurrent_fetches_of_an_original_do_not_each_hold_it_in_memory(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    clients = 8
    data = noise_png(2650, 2650)  # about 20 MiB
    added = await ingest_photo(db, data, filename="noise.png", source="import")
    assert isinstance(added, Added)
    headers = await bearer(db, "cy")
    url = f"/photos/{added.photo.id}?size=original"
    with _service(settings, tmp_path) as (pid, base_url):
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as http:
            small = await http.get(f"/photos/{added.photo.id}", headers=headers)  # warm-up
            assert small.status_code == 200
            together = asyncio.Barrier(clients)
            fetches = asyncio.gather(
                *(
                    _fetch_together(http, url, headers=headers, together=together)
                    for _ in range(clients)
                )
            )
            growth = await _peak_growth(pid, fetches)

    assert all(body == data for body in fetches.result())
    # Read whole, the service held clients x 20 MiB at once (216 MiB); streamed, about 2 MiB
    # a client.
    assert growth < len(data) * clients / 4, f"the service grew by {growth / MIB:.0f} MiB"


def _png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()


async def _upload(http: httpx.AsyncClient, data: bytes, *, headers: dict[str, str]) -> str:
    operations = {"query": ADD_PHOTO, "variables": {"file": None, "filename": "big.png"}}
    response = await http.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": ("big.png", data, "image/png")},
        headers=headers,
    )
    return str(response.json()["data"]["addPhoto"]["__typename"])


async def test_concurrent_uploads_of_large_pngs_are_decoded_one_at_a_time(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    clients, width, height = 4, 5000, 4000
    pngs = [_png(width, height, (60 * i, 80, 120)) for i in range(clients)]  # 60 kB each
    decoded = width * height * 4  # Pillow keeps RGB in 4 bytes a pixel: 76 MiB
    headers = await bearer(db, "ada", admin=True)
    with _service(settings, tmp_path) as (pid, base_url):
        async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
            assert await _upload(http, jpeg_bytes(), headers=headers) == "PhotoAdded"  # warm-up
            uploads = asyncio.gather(*(_upload(http, png, headers=headers) for png in pngs))
            growth = await _peak_growth(pid, uploads)

    assert uploads.result() == ["PhotoAdded"] * clients
    # Decoded all at once, they held clients x 76 MiB; one at a time, one of them.
    assert growth < 2 * decoded, f"the service grew by {growth / MIB:.0f} MiB"
