from collections.abc import AsyncIterator

import httpx
import pytest

from api.database import Database
from api.photos import files
from tests.api.photos.builders import (
    bearer,
    jpeg_bytes,
    noise_png,
    png_bytes,
    scan_bomb_jpeg,
    upload_request,
)
from tests.api.photos.conftest import SMALL_LIMIT


async def _upload(
    http: httpx.AsyncClient, data: bytes, *, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await http.send(upload_request(data, filename="upload.jpg", headers=headers))


async def test_an_admin_uploads_a_photo(http: httpx.AsyncClient, db: Database) -> None:
    admin = await bearer(db, "ada", admin=True)
    data = jpeg_bytes(800, 600)

    response = await _upload(http, data, headers=admin)

    result = response.json()["data"]["addPhoto"]
    assert result["__typename"] == "PhotoAdded"
    photo = result["photo"]
    assert (photo["filename"], photo["width"], photo["height"]) == ("upload.jpg", 800, 600)
    assert (photo["contentType"], photo["sizeBytes"]) == ("image/jpeg", len(data))
    assert (photo["source"], photo["status"]) == ("UPLOAD", "new")
    stored = await db.photos.find_one({"_id": photo["id"]})
    assert stored is not None
    assert stored["added_by"] == (await db.contributors.find_one({"name": "ada"}) or {})["_id"]


@pytest.mark.parametrize(
    ("filename", "message"),
    [
        ("  ", "filename must not be blank"),
        ("x" * 256 + ".jpg", "filename is 260 characters; at most 255"),
        ("../../etc/passwd", "without a folder"),
        ("..", "not . or .."),
        ("a\x00.jpg", "must not contain control characters"),
        ("photo\u202egpj.exe", "right-to-left override"),
    ],
)
async def test_a_bad_filename_is_refused_before_anything_is_stored(
    http: httpx.AsyncClient, db: Database, filename: str, message: str
) -> None:
    admin = await bearer(db, "ada", admin=True)
    request = upload_request(jpeg_bytes(), filename=filename, headers=admin)
    body = (await http.send(request)).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert message in body["errors"][0]["message"]
    assert await db.photos.count_documents({}) == 0
    assert await db[files.FILES].count_documents({}) == 0


async def test_the_same_upload_twice_is_a_duplicate(http: httpx.AsyncClient, db: Database) -> None:
    admin = await bearer(db, "ada", admin=True)
    first = await _upload(http, jpeg_bytes(), headers=admin)
    second = await _upload(http, jpeg_bytes(), headers=admin)

    photo_id = first.json()["data"]["addPhoto"]["photo"]["id"]
    duplicate = second.json()["data"]["addPhoto"]
    assert duplicate["__typename"] == "DuplicatePhoto"
    assert duplicate["photo"]["id"] == photo_id
    assert photo_id in duplicate["message"]
    assert await db.photos.count_documents({}) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"%PDF-1.7 not a photo", "PDF"),
        (scan_bomb_jpeg(), "the JPEG has 300 scans; at most 50 are accepted"),
        (
            png_bytes(1, 1),
            "the image is 1x1 pixels; a photo must be at least 32 pixels on its shorter side",
        ),
    ],
)
async def test_an_unusable_upload_is_an_invalid_image(
    http: httpx.AsyncClient, db: Database, data: bytes, message: str
) -> None:
    admin = await bearer(db, "ada", admin=True)
    response = await _upload(http, data, headers=admin)

    result = response.json()["data"]["addPhoto"]
    assert result["__typename"] == "InvalidImage"
    assert message in result["message"]
    assert "JPEG, PNG or WebP" in result["accepted"]
    assert await db.photos.count_documents({}) == 0


async def test_a_png_cut_inside_its_header_is_an_invalid_image_saying_so(
    http: httpx.AsyncClient, db: Database
) -> None:
    admin = await bearer(db, "ada", admin=True)
    response = await _upload(http, b"\x89PNG\r\n\x1a\n", headers=admin)  # the signature alone

    result = response.json()["data"]["addPhoto"]
    assert result["__typename"] == "InvalidImage"
    assert result["message"].endswith(
        "the PNG ends inside its header (the file is 8 bytes): it is cut short"
    )
    assert await db.photos.count_documents({}) == 0
    assert await db.photo_files.files.count_documents({}) == 0


@pytest.mark.parametrize(
    ("role", "code"), [("contributor", "FORBIDDEN"), (None, "UNAUTHENTICATED")]
)
async def test_only_admins_upload(
    http: httpx.AsyncClient, db: Database, role: str | None, code: str
) -> None:
    headers = None if role is None else await bearer(db, "cy")
    response = await _upload(http, jpeg_bytes(), headers=headers)

    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == code
    assert await db.photos.count_documents({}) == 0


async def _chunks(data: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("content_length", ["declared", "absent", "lying"])
async def test_an_oversized_upload_is_refused(
    small_limit_http: httpx.AsyncClient, db: Database, content_length: str
) -> None:
    admin = await bearer(db, "ada", admin=True)
    request = upload_request(noise_png(200, 200), headers=admin)
    body = request.read()
    assert len(body) > SMALL_LIMIT
    headers = {"content-type": request.headers["content-type"], **admin}
    if content_length == "declared":
        response = await small_limit_http.post("/graphql", content=body, headers=headers)
    else:
        # A streamed body goes out chunked, without Content-Length (or with a false one).
        if content_length == "lying":
            headers["content-length"] = "1000"
        response = await small_limit_http.post("/graphql", content=_chunks(body), headers=headers)

    assert response.status_code == 413
    assert f"{SMALL_LIMIT:,} bytes" in response.json()["error"]
    assert await db.photos.count_documents({}) == 0
    assert await db[files.FILES].count_documents({}) == 0


async def test_an_upload_under_the_limit_is_streamed_through(
    small_limit_http: httpx.AsyncClient, db: Database
) -> None:
    admin = await bearer(db, "ada", admin=True)
    request = upload_request(jpeg_bytes(300, 300), headers=admin)
    body = request.read()
    headers = {"content-type": request.headers["content-type"], **admin}

    response = await small_limit_http.post("/graphql", content=_chunks(body), headers=headers)

    assert response.json()["data"]["addPhoto"]["__typename"] == "PhotoAdded"


async def test_an_upload_may_be_larger_than_a_request_that_is_not_one(
    http: httpx.AsyncClient, db: Database
) -> None:
    data = noise_png(700, 700)  # incompressible: about 1.5 MB, over the 1 MiB of other requests
    assert len(data) > 1024 * 1024
    response = await _upload(http, data, headers=await bearer(db, "ada", admin=True))
    assert response.json()["data"]["addPhoto"]["__typename"] == "PhotoAdded"


@pytest.mark.parametrize("value", ["aGVsbG8=", {"bytes": 1}, None])
async def test_a_file_sent_as_json_is_bad_input(
    http: httpx.AsyncClient, db: Database, value: object
) -> None:
    query = "mutation($file: Upload!) { addPhoto(file: $file) { __typename } }"
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": {"file": value}},
        headers=await bearer(db, "ada", admin=True),
    )

    error = response.json()["errors"][0]
    if value is None:  # a null for a required argument: refused before any resolver runs
        assert "Expected value of non-null type 'Upload!' not to be None" in error["message"]
    else:
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "multipart request" in error["message"]
    assert await db.photos.count_documents({}) == 0


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"operations": "{not json", "map": '{"0": ["variables.file"]}'},
         "the multipart 'operations' part is not JSON: Expecting property name"),
        ({"operations": '{"query": "{ me { name } }"}', "map": "{0: 1}"},
         "the multipart 'map' part is not JSON"),
        ({"operations": '{"query": "{ me { name } }"}'}, "has no 'map' part"),
        ({"map": '{"0": ["variables.file"]}'}, "has no 'operations' part"),
        ({"operations": '{"query": "{ me { name } }"}', "map": "[]"}, "'map' a JSON object"),
        ({"operations": '{"query": "{ me { name } }"}', "map": '{"1": ["variables.file"]}'},
         "the multipart 'map' names part '1', which the request does not have"),
        ({"operations": '{"query": "{ me { name } }"}', "map": '{"0": ["variables.file"]}'},
         "the multipart 'map' path 'variables.file' (for part '0') is not in 'operations': "
         "it has no 'variables'; give each file variable there as null"),
        ({"operations": '{"query": "{ me { name } }", "variables": {"input": {}}}',
          "map": '{"0": ["variables.input.photo.file"]}'},
         "it has no 'variables.input.photo'"),
        ({"operations": '{"query": "{ me { name } }", "variables": {"files": []}}',
          "map": '{"0": ["variables.files.0"]}'},
         "it has no 'variables.files.0'"),
        ({"operations": '{"query": "{ me { name } }", "variables": {"file": null}}',
          "map": '{"0": "variables.file"}'},
         """the multipart 'map' gives part '0' "variables.file", not a list of variable paths; """
         """write it as {"0": ["variables.file"]}"""),
        ({"operations": '{"query": "{ me { name } }", "variables": {"file": null}}',
          "map": '{"0": [["variables", "file"]]}'},
         "gives part '0' [[\"variables\", \"file\"]], not a list of variable paths"),
        ({"operations": '{"query": "{ me { name } }", "variables": {"file": null}}',
          "map": '{"0": ["variables.file"], "x": ["variables.file"]}', "x": "not a file"},
         "the multipart part 'x' named in 'map' is a form field, not a file"),
        ({"operations": "[" * 100_000, "map": '{"0": ["variables.file"]}'},
         "the multipart 'operations' part cannot be read as JSON: maximum recursion depth"),
        ({"operations": '{"query": "{ me { name } }"}', "map": '{"0": ' + "9" * 5000 + "}"},
         "the multipart 'map' part cannot be read as JSON: Exceeds the limit (4300 digits)"),
        ({"operations": '{"query": "{ me { name } }"}', "map": "{" + '"a": {' * 100_000},
         "the multipart 'map' part cannot be read as JSON: maximum recursion depth"),
        ({"operations": "[1]", "map": '{"0": ["variables.file"]}'}, "'operations' must be"),
    ],
)  # fmt: skip
async def test_a_malformed_multipart_request_is_refused_and_its_files_closed(
    http: httpx.AsyncClient, db: Database, form: dict[str, str], message: str
) -> None:
    # Over 1 MB, so the part is spooled to a temporary file: left open, it would warn (an
    # error in this suite) when collected.
    request = httpx.Request(
        "POST",
        "http://photosurvey.test/graphql",
        data=form,
        files={"0": ("big.jpg", noise_png(800, 600), "application/octet-stream")},
        headers=await bearer(db, "ada", admin=True),
    )

    response = await http.send(request)

    assert response.status_code == 400
    assert message in response.text
    assert await db.photos.count_documents({}) == 0


async def test_an_operations_part_sent_as_a_file_is_refused_by_name(
    http: httpx.AsyncClient, db: Database
) -> None:
    operations = b'{"query": "{ me { name } }"}'
    response = await http.post(
        "/graphql",
        data={"map": "{}"},
        files={"operations": ("ops.json", operations, "application/json")},
        headers=await bearer(db, "ada", admin=True),
    )
    assert response.status_code == 400
    assert response.text == "the multipart 'operations' part must be a form field, not a file"
