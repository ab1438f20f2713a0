"""The service process's memory under large photos: concurrent fetches of a large original
and concurrent uploads of 90-megapixel photos, through HTTP.

    .venv/bin/python bench/memory.py [--json OUT] [--fetches N] [--uploads N] [--rounds R]
        [--only fetch|upload]

A fresh embedded database in a temporary folder, started by the benchmark, and the real
``photosurvey serve`` process given its URI (see `_service`), so that the database is not
the service's child and the memory read is the service's alone. Each round of each scenario
runs in a fresh service process on a fresh database, after a warm-up request that loads
the code paths with a small photo:

- ``fetch``: a 24-megapixel JPEG of noise over a gradient (about 21 MiB, near the default
  upload limit of 25 MiB) is uploaded by a first service process; a second one serves it to
  N concurrent clients (``GET /photos/{id}?size=original``), each checking the bytes
  against the ETag and Content-Length. The clients read the bodies only once all of them
  have their answer's headers, as clients slower than the service would: whatever a
  service holds for a response it has started, it holds for all N at once. Goal: peak
  growth <= 64 MiB for 16 clients.
- ``upload``: N concurrent ``addPhoto`` requests, each with its own 90-megapixel JPEG
  (10,950 x 8,220, about 18 MiB). Goal: peak growth <= 256 MiB for 4 uploads.

Peak growth is the service's VmHWM (peak resident set, reset through
``/proc/PID/clear_refs`` just before the requests) minus its VmRSS just before them; when
the kernel refuses the reset, the highest VmRSS sampled every 5 ms stands in. ``retained``
is VmRSS a second after the last answer, minus the same baseline: memory the process kept.
Reported per scenario: the largest growth over the rounds, and every round in the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

# This file is in bench/: search that folder last, so `import api` finds the service.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

from _service import Service, service_environ  # noqa: E402

from api.auth.store import add_contributor  # noqa: E402
from api.database import connect  # noqa: E402
from api.embedded import EmbeddedDatabase, free_port  # noqa: E402

MIB = 1024 * 1024
FETCH_SIZE = (6000, 4000)  # 24 MP
UPLOAD_SIZE = (10_950, 8_220)  # 90 MP
GOALS_MIB = {"fetch": 64, "upload": 256}
SCENARIOS = tuple(GOALS_MIB)
_SAMPLE_SECONDS = 0.005
_SETTLE_SECONDS = 1.0
_TIMEOUT = 300.0
_ADD_PHOTO = """
mutation ($file: Upload!) {
  addPhoto(file: $file) {
    __typename
    ... on PhotoAdded { photo { id } }
    ... on InvalidImage { message }
  }
}
"""


# --- photos ----------------------------------------------------------------------------


def noisy_jpeg(size: tuple[int, int], *, seed: int, quality: int, noise: int) -> bytes:
    """A JPEG of a colour gradient under uniform noise of +-`noise`: like a photo, it does
    not compress to nothing. Built a band of rows at a time, to keep the bench small."""
    width, height = size
    rng = np.random.default_rng(seed)
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    across = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    tint = np.array([1.0, 0.7, 0.4], dtype=np.float32)
    band = 512
    for top in range(0, height, band):
        rows = min(band, height - top)
        down = np.linspace(top / height, (top + rows) / height, rows, dtype=np.float32)
        base = (across * 0.6 + down[:, None, None] * 0.4) * tint * (255 - 2 * noise) + noise
        jitter = rng.integers(-noise, noise + 1, size=(rows, width, 3), dtype=np.int16)
        pixels[top : top + rows] = (base + jitter).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def small_jpeg(seed: int) -> bytes:
    return noisy_jpeg((640, 480), seed=seed, quality=90, noise=20)


# --- the service's memory --------------------------------------------------------------


def status_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of `pid`, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def reset_peak(pid: int) -> bool:
    """Reset `pid`'s VmHWM to its current RSS (Linux >= 4.0); False if refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Measurement:
    baseline_mib: float
    peak_growth_mib: float
    retained_mib: float
    peak_from: str  # "VmHWM" or "sampled VmRSS"
    seconds: float


async def measure(pid: int, run: Callable[[], Awaitable[None]]) -> Measurement:
    """The growth of `pid`'s resident memory while `run` runs."""
    baseline = status_kib(pid)["VmRSS"]
    exact = reset_peak(pid)
    sampled = baseline
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal sampled
        while not done.is_set():
            sampled = max(sampled, status_kib(pid)["VmRSS"])
            await asyncio.sleep(_SAMPLE_SECONDS)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    try:
        await run()
    finally:
        seconds = time.perf_counter() - started
        done.set()
        await sampler
    peak = status_kib(pid)["VmHWM"] if exact else sampled
    await asyncio.sleep(_SETTLE_SECONDS)
    after = status_kib(pid)["VmRSS"]
    return Measurement(
        baseline_mib=round(baseline / 1024, 1),
        peak_growth_mib=round((peak - baseline) / 1024, 1),
        retained_mib=round((after - baseline) / 1024, 1),
        peak_from="VmHWM" if exact else "sampled VmRSS",
        seconds=round(seconds, 2),
    )


# --- requests --------------------------------------------------------------------------


async def upload(http: httpx.AsyncClient, data: bytes, *, token: str) -> str:
    """addPhoto; the new photo's id."""
    operations = {"query": _ADD_PHOTO, "variables": {"file": None}}
    response = await http.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": ("photo.jpg", data, "image/jpeg")},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json() if response.status_code == 200 else {}
    result = (body.get("data") or {}).get("addPhoto") or {}
    if result.get("__typename") != "PhotoAdded":
        raise RuntimeError(f"upload failed: HTTP {response.status_code} {response.text[:300]}")
    return str(result["photo"]["id"])


async def fetch(
    http: httpx.AsyncClient,
    photo_id: str,
    *,
    token: str,
    size: str,
    together: asyncio.Barrier | None = None,
) -> int:
    """GET the photo, streamed and checked against its ETag and Content-Length; its size.
    With `together`, the body is read only once every client has its answer's headers."""
    digest = hashlib.sha256()
    headers = {"Authorization": f"Bearer {token}"}
    params = {"size": size}
    async with http.stream("GET", f"/photos/{photo_id}", params=params, headers=headers) as r:
        if r.status_code != 200:
            raise RuntimeError(f"fetch failed: HTTP {r.status_code}")
        if together is not None:
            await together.wait()
        length = 0
        async for piece in r.aiter_raw():
            digest.update(piece)
            length += len(piece)
    if r.headers["etag"] != f'"{digest.hexdigest()}"':
        raise RuntimeError("the fetched bytes do not match the ETag")
    if int(r.headers["content-length"]) != length:
        raise RuntimeError(f"got {length} bytes, Content-Length {r.headers['content-length']}")
    return length


# --- scenarios -------------------------------------------------------------------------


@dataclass(frozen=True)
class Photos:
    original: bytes
    uploads: list[bytes]


@dataclass(frozen=True)
class Run:
    uri: str
    folder: Path
    db_name: str
    token: str


@contextlib.asynccontextmanager
async def service(run: Run, clients: int) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    environ = service_environ(
        mongodb_uri=run.uri, db_name=run.db_name, port=free_port(), data_dir=run.folder
    )
    started = Service.start(environ, log_path=run.folder / f"{run.db_name}.log")
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    try:
        await started.wait_until_ready()
        async with httpx.AsyncClient(
            base_url=started.base_url, limits=limits, timeout=_TIMEOUT
        ) as http:
            yield started, http
    finally:
        await asyncio.to_thread(started.stop)


async def fetch_round(run: Run, photos: Photos, *, clients: int) -> dict[str, Any]:
    async with service(run, 1) as (_, http):
        photo_id = await upload(http, photos.original, token=run.token)
    async with service(run, clients) as (served, http):
        await fetch(http, photo_id, token=run.token, size="small")  # warm-up

        async def fetches() -> None:
            together = asyncio.Barrier(clients)
            sizes = await asyncio.gather(
                *(
                    fetch(http, photo_id, token=run.token, size="original", together=together)
                    for _ in range(clients)
                )
            )
            assert sizes == [len(photos.original)] * clients

        return asdict(await measure(served.process.pid, fetches))


async def upload_round(run: Run, photos: Photos) -> dict[str, Any]:
    clients = len(photos.uploads)
    async with service(run, clients) as (served, http):
        await upload(http, small_jpeg(seed=len(run.db_name)), token=run.token)  # warm-up

        async def uploads() -> None:
            await asyncio.gather(*(upload(http, data, token=run.token) for data in photos.uploads))

        return asdict(await measure(served.process.pid, uploads))


async def admin_token(uri: str, db_name: str) -> str:
    client = connect(uri)
    try:
        _, token = await add_contributor(client[db_name], "bench-admin", role="admin")
    finally:
        await client.close()
    return token


async def scenario_round(
    uri: str, folder: Path, scenario: str, index: int, photos: Photos, *, fetches: int
) -> dict[str, Any]:
    db_name = f"bench_{scenario}_{index}"
    run = Run(uri=uri, folder=folder, db_name=db_name, token=await admin_token(uri, db_name))
    if scenario == "fetch":
        return await fetch_round(run, photos, clients=fetches)
    return await upload_round(run, photos)


# --- the report ------------------------------------------------------------------------


def summarise(
    rounds: list[dict[str, Any]], *, scenario: str, clients: int, size: int
) -> dict[str, Any]:
    worst = max(rounds, key=lambda r: r["peak_growth_mib"])
    return {
        "clients": clients,
        "photo_mib": round(size / MIB, 1),
        "peak_growth_mib": worst["peak_growth_mib"],
        "retained_mib": max(r["retained_mib"] for r in rounds),
        "goal_mib": GOALS_MIB[scenario],
        "rounds": rounds,
    }


def table(results: dict[str, Any]) -> str:
    lines = [
        "| scenario | clients | photo | peak RSS growth (max of rounds) | retained after | goal |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    names = {"fetch": "fetch original", "upload": "upload 90 MP JPEG"}
    for scenario, r in results.items():
        name = names[scenario]
        lines.append(
            f"| {name} | {r['clients']} | {r['photo_mib']} MiB | {r['peak_growth_mib']} MiB "
            f"| {r['retained_mib']} MiB | <= {r['goal_mib']} MiB |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--fetches", type=int, default=16, help="concurrent fetches")
    parser.add_argument("--uploads", type=int, default=4, help="concurrent uploads")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each scenario")
    parser.add_argument("--only", choices=SCENARIOS, help="run this scenario alone")
    args = parser.parse_args(argv)
    if min(args.fetches, args.uploads, args.rounds) < 1:
        parser.error("--fetches, --uploads and --rounds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print("making the photos...", flush=True)
    photos = Photos(
        original=noisy_jpeg(FETCH_SIZE, seed=1, quality=97, noise=42),
        uploads=[
            noisy_jpeg(UPLOAD_SIZE, seed=10 + i, quality=85, noise=16)
            for i in range(0 if args.only == "fetch" else args.uploads)
        ],
    )
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="photosurvey-bench-memory-") as tmp:
        folder = Path(tmp)
        # Started on the main thread: the database dies with the thread that spawned it.
        database = EmbeddedDatabase.start(folder / "db")
        try:
            database.wait_until_ready()
            for scenario in SCENARIOS if args.only is None else (args.only,):
                rounds = []
                for index in range(args.rounds):
                    measured = asyncio.run(
                        scenario_round(
                            database.uri, folder, scenario, index, photos, fetches=args.fetches
                        )
                    )
                    print(f"{scenario} round {index + 1}: {json.dumps(measured)}", flush=True)
                    rounds.append(measured)
                clients = args.fetches if scenario == "fetch" else args.uploads
                size = len(photos.original) if scenario == "fetch" else len(photos.uploads[0])
                results[scenario] = summarise(rounds, scenario=scenario, clients=clients, size=size)
        finally:
            database.stop()
    print()
    print(table(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
