import hashlib
import io
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image

from api.database import Database
from api.photos.ingest import Added, ingest_photo
from api.photos.records import PhotoRecord
from api.photos.signing import signed_photo_url
from api.settings import Settings
from tests.api.photos.builders import bearer, jpeg_bytes


async def _photo(db: Database) -> tuple[PhotoRecord, bytes]:
    data = jpeg_bytes(1000, 800)
    result = await ingest_photo(db, data, filename="p.jpg", source="import")
    assert isinstance(result, Added)
    return result.photo, data


async def test_a_contributor_gets_the_small_copy_by_default(
    http: httpx.AsyncClient, db: Database
) -> None:
    photo, _ = await _photo(db)
    response = await http.get(f"/photos/{photo.id}", headers=await bearer(db, "cy"))

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["etag"] == f'"{hashlib.sha256(response.content).hexdigest()}"'
    assert response.headers["cache-control"].startswith("private, max-age=")
    assert Image.open(io.BytesIO(response.content)).size == (480, 384)


async def test_the_original_is_served_unchanged(http: httpx.AsyncClient, db: Database) -> None:
    photo, data = await _photo(db)
    response = await http.get(
        f"/photos/{photo.id}", params={"size": "original"}, headers=await bearer(db, "cy")
    )

    assert response.content == data
    assert response.headers["etag"] == f'"{photo.sha256}"'


async def test_an_unchanged_photo_is_not_sent_again(http: httpx.AsyncClient, db: Database) -> None:
    photo, _ = await _photo(db)
    headers = await bearer(db, "cy")
    first = await http.get(f"/photos/{photo.id}", headers=headers)

    again = await http.get(
        f"/photos/{photo.id}", headers={**headers, "if-none-match": first.headers["etag"]}
    )
    other = await http.get(f"/photos/{photo.id}", headers={**headers, "if-none-match": '"x"'})

    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert other.status_code == 200


async def test_a_signed_url_works_without_a_token(
    http: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    photo, data = await _photo(db)
    small = await http.get(signed_photo_url(photo.id, settings=settings))
    original = await http.get(signed_photo_url(photo.id, settings=settings, size="original"))

    assert small.status_code == 200
    assert small.headers["content-type"] == "image/jpeg"
    assert original.content == data


def _tamper(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()} | changes
    return parts.path + "?" + "&".join(f"{key}={value}" for key, value in query.items())


async def test_a_tampered_or_expired_signature_is_refused(
    http: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    photo, _ = await _photo(db)
    url = signed_photo_url(photo.id, settings=settings)
    expired_url = signed_photo_url(photo.id, settings=settings, now=time.time() - 86400)

    resized = await http.get(_tamper(url, size="original"))
    later = await http.get(_tamper(url, expires="99999999999"))
    superscript = await http.get(_tamper(url, expires="%C2%B2"))  # "²": a digit to isdigit()
    expired = await http.get(expired_url)

    assert resized.status_code == later.status_code == superscript.status_code == 403
    assert "signature does not match" in resized.json()["error"]
    assert expired.status_code == 403
    assert "expired" in expired.json()["error"]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "needs authorisation"),
        ({"authorization": "Bearer ps_unknown"}, "matches no contributor"),
    ],
)
async def test_no_token_and_no_signature_is_401(
    http: httpx.AsyncClient, db: Database, headers: dict[str, str], message: str
) -> None:
    photo, _ = await _photo(db)
    response = await http.get(f"/photos/{photo.id}", headers=headers)

    assert response.status_code == 401
    assert message in response.json()["error"]


async def test_an_unknown_photo_is_404(http: httpx.AsyncClient, db: Database) -> None:
    headers = await bearer(db, "cy")
    unknown = await http.get(f"/photos/{'a' * 24}", headers=headers)
    malformed = await http.get("/photos/not-an-id", headers=headers)
    long = await http.get(f"/photos/{'b' * 10_000}", headers=headers)

    assert unknown.status_code == malformed.status_code == long.status_code == 404
    assert "no photo" in unknown.json()["error"]
    assert long.json()["error"].endswith("... (10,000 characters)")  # not echoed whole


async def test_a_bad_size_is_400_naming_the_accepted_ones(
    http: httpx.AsyncClient, db: Database
) -> None:
    photo, _ = await _photo(db)
    response = await http.get(
        f"/photos/{photo.id}", params={"size": "huge"}, headers=await bearer(db, "cy")
    )

    assert response.status_code == 400
    assert "small, original" in response.json()["error"]


async def test_the_photo_type_carries_a_working_url(http: httpx.AsyncClient, db: Database) -> None:
    photo, data = await _photo(db)
    query = "query ($id: ID!) { photo(id: $id) { id url original: url(size: ORIGINAL) } }"
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": {"id": photo.id}},
        headers=await bearer(db, "cy", admin=True),
    )

    urls = response.json()["data"]["photo"]
    assert (await http.get(urls["original"])).content == data
    assert (await http.get(urls["url"])).headers["content-type"] == "image/jpeg"


async def test_an_unknown_photo_id_is_null(http: httpx.AsyncClient, db: Database) -> None:
    query = "query ($id: ID!) { photo(id: $id) { id } }"
    variables = {"id": "f" * 24}
    anonymous = await http.post("/graphql", json={"query": query, "variables": variables})
    admin = await bearer(db, "cy", admin=True)
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=admin
    )

    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert response.json() == {"data": {"photo": None}}
