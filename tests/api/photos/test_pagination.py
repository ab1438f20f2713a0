import hashlib
from datetime import UTC, datetime

import httpx
import pytest

from api.database import Database
from api.photos import store
from api.photos.pages import EXPECTED_PHOTOS, read_page
from api.photos.records import PhotoRecord
from tests.api.photos.builders import bearer

PAGE = """
query ($first: Int, $after: String, $filter: PhotoFilterInput) {
  photos(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id source status } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def _record(n: int, *, source: str = "import", status: str = "new") -> PhotoRecord:
    sha256 = hashlib.sha256(f"photo {n}".encode()).hexdigest()
    return PhotoRecord(
        id=sha256[:24], sha256=sha256, filename=f"{n}.jpg", source=source,  # type: ignore[arg-type]
        added_by=None, content_type="image/jpeg", size_bytes=1, width=1, height=1,
        original_file_id=None, small_file_id=None, small_width=1, small_height=1,
        created_at=datetime(2026, 1, 1, tzinfo=UTC), status=status,
    )  # fmt: skip


async def _insert(db: Database, count: int, **fields: str) -> list[PhotoRecord]:
    records = [_record(n, **fields) for n in range(count)]
    for record in records:
        assert await store.insert_photo(db, record)
    return records


async def _walk(
    http: httpx.AsyncClient, headers: dict[str, str], *, first: int, filter: object = None
) -> list[dict[str, str]]:
    seen, after = [], None
    while True:
        variables = {"first": first, "after": after, "filter": filter}
        response = await http.post(
            "/graphql", json={"query": PAGE, "variables": variables}, headers=headers
        )
        page = response.json()["data"]["photos"]
        assert len(page["edges"]) <= first
        seen.extend(edge["node"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


async def test_cursors_walk_every_photo_exactly_once(http: httpx.AsyncClient, db: Database) -> None:
    records = await _insert(db, 45)
    seen = await _walk(http, await bearer(db, "cy", admin=True), first=10)

    ids = [photo["id"] for photo in seen]
    assert len(ids) == len(set(ids)) == 45
    assert ids == sorted(record.id for record in records)


async def test_filters_narrow_the_walk(http: httpx.AsyncClient, db: Database) -> None:
    await _insert(db, 12)
    samples = [_record(n, source="sample", status="retired") for n in range(100, 107)]
    for record in samples:
        await store.insert_photo(db, record)
    headers = await bearer(db, "cy", admin=True)

    by_source = await _walk(http, headers, first=3, filter={"source": "SAMPLE"})
    by_status = await _walk(http, headers, first=3, filter={"status": "retired"})
    by_both = await _walk(http, headers, first=3, filter={"source": "IMPORT", "status": "retired"})

    assert sorted(photo["id"] for photo in by_source) == sorted(r.id for r in samples)
    assert by_status == by_source
    assert by_both == []


@pytest.mark.parametrize("first", [0, 101, -5])
async def test_first_out_of_range_is_bad_input(
    http: httpx.AsyncClient, db: Database, first: int
) -> None:
    response = await http.post(
        "/graphql", json={"query": PAGE, "variables": {"first": first}},
        headers=await bearer(db, "cy", admin=True),
    )  # fmt: skip

    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "1-100" in error["message"]


async def test_an_unknown_status_is_bad_input(http: httpx.AsyncClient, db: Database) -> None:
    response = await http.post(
        "/graphql", json={"query": PAGE, "variables": {"filter": {"status": "done?"}}},
        headers=await bearer(db, "cy", admin=True),
    )  # fmt: skip

    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "'done?' is no photo status; expected one of new, open, unreadable" in error["message"]


@pytest.mark.parametrize(
    ("cursor", "shown"),
    [
        ("bm9wZQ==", "'bm9wZQ==' is not"),
        ("x" * 10_000, "'" + "x" * 40 + "'... (10,000 characters)"),
    ],
)
async def test_a_foreign_cursor_is_bad_input(
    http: httpx.AsyncClient, db: Database, cursor: str, shown: str
) -> None:
    response = await http.post(
        "/graphql", json={"query": PAGE, "variables": {"after": cursor}},
        headers=await bearer(db, "cy", admin=True),
    )  # fmt: skip

    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert shown in error["message"]
    assert len(error["message"]) < 200


async def test_photos_need_an_admin_token(http: httpx.AsyncClient, db: Database) -> None:
    await _insert(db, 3)
    anonymous = await http.post("/graphql", json={"query": PAGE})
    contributor = await http.post("/graphql", json={"query": PAGE}, headers=await bearer(db, "cy"))

    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert contributor.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert contributor.json()["data"] is None


@pytest.mark.parametrize("photos", [0, 1, 30, 5000, 200_000])
async def test_each_window_reads_about_a_page(photos: int) -> None:
    # A simulated collection: uniform hashes, as in reality. Whatever its size, no window
    # may match far more photos than the page asks for.
    records = sorted((_record(n) for n in range(photos)), key=lambda r: r.sha256)
    reads: list[int] = []

    async def fetch(after: str | None, below: str | None) -> list[PhotoRecord]:
        window = [
            r for r in records
            if (after is None or r.sha256 > after) and (below is None or r.sha256 < below)
        ]  # fmt: skip
        reads.append(len(window))
        return window

    page = await read_page(fetch, first=20, after=None)

    assert [r.id for r in page.photos] == [r.id for r in records[:20]]
    assert page.has_next_page == (photos > 20)
    assert max(reads) <= 60
    assert len(reads) <= 12
    assert photos < EXPECTED_PHOTOS
