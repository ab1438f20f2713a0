"""``GET /photos/{id}?size=small|original``: photo bytes for a token or a signed URL.

The bytes are streamed a few GridFS chunks at a time (`files.OpenedFile.chunks`), never
read whole: an original may be 25 MiB and many clients may fetch it at once. uvicorn writes
a chunk only as fast as the client reads, so a slow client holds one batch of chunks.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from api.auth.store import find_by_token
from api.auth.tokens import token_from_header
from api.database import Database
from api.photos import files, store
from api.photos.records import PHOTO_SIZES, PhotoSize
from api.photos.signing import SignatureCheck, check_signature, secret_key_for
from api.settings import Settings
from api.text import quoted

_PHOTO_ID = re.compile(r"[0-9a-f]{24}")
_AUTH_HELP = "send 'Authorization: Bearer <token>' or use the photo's signed URL"


def photo_routes(*, settings: Settings, database: Callable[[], Database]) -> list[Route]:
    """The photo routes; `database` gives the started app's database."""

    async def serve_photo(request: Request) -> Response:
        photo_id = request.path_params["photo_id"]
        size = request.query_params.get("size", "small")
        if size not in PHOTO_SIZES:
            accepted = ", ".join(PHOTO_SIZES)
            return _error(400, f"size={size!r} is not accepted; expected one of: {accepted}")
        refusal = await _refusal(request, photo_id, size=size, settings=settings, db=database())
        if refusal is not None:
            return refusal
        return await _photo_response(request, photo_id, size=size, settings=settings, db=database())

    return [Route("/photos/{photo_id}", serve_photo, methods=["GET", "HEAD"])]


async def _refusal(
    request: Request, photo_id: str, *, size: PhotoSize, settings: Settings, db: Database
) -> Response | None:
    """Why the caller may not have the photo, or None when a signature or token allows it."""
    signature = check_signature(
        photo_id,
        size=size,
        expires=request.query_params.get("expires"),
        sig=request.query_params.get("sig"),
        key=secret_key_for(settings),
    )
    if signature is SignatureCheck.VALID:
        return None
    header = request.headers.get("authorization")
    if header is not None:
        token = token_from_header(header)
        if token is not None and await find_by_token(db, token) is not None:
            return None
        return _error(401, f"the bearer token matches no contributor; {_AUTH_HELP}")
    if signature is SignatureCheck.EXPIRED:
        return _error(403, "the signed URL has expired; fetch the photo's URL again")
    if signature is SignatureCheck.INVALID:
        return _error(403, "the URL's signature does not match this photo, size and expiry")
    return _error(401, f"this photo needs authorisation: {_AUTH_HELP}")


async def _photo_response(
    request: Request, photo_id: str, *, size: PhotoSize, settings: Settings, db: Database
) -> Response:
    photo = await store.find_photo(db, photo_id) if _PHOTO_ID.fullmatch(photo_id) else None
    opened = None if photo is None else await files.open_file(db, photo.file_id(size))
    if photo is None or opened is None:
        return _error(404, f"no photo has the id {quoted(photo_id)}")
    headers = {
        # Strong: the digest of the exact bytes served.
        "ETag": f'"{opened.sha256}"',
        # Private: photos are not public; the browser may keep them as long as a URL lives.
        "Cache-Control": f"private, max-age={settings.photo_url_seconds}",
        "X-Content-Type-Options": "nosniff",
    }
    if _matches(request.headers.get("if-none-match"), opened.sha256):
        return Response(status_code=304, headers=headers)
    headers["Content-Length"] = str(opened.length)
    if request.method == "HEAD":
        return Response(media_type=opened.content_type, headers=headers)
    return StreamingResponse(opened.chunks(), media_type=opened.content_type, headers=headers)


def _matches(if_none_match: str | None, sha256: str) -> bool:
    """RFC 9110 If-None-Match: weak comparison over a list of tags, or ``*``."""
    if if_none_match is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or f'"{sha256}"' in tags


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)
