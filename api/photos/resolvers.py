"""Photo queries and the `addPhoto` mutation; composed into the schema's roots."""

from __future__ import annotations

from functools import partial

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload
from strawberry.types import Info

from api.context import Context
from api.errors import BadInput, id_argument
from api.photos import store
from api.photos.admission import ingest_slot
from api.photos.images import ACCEPTED
from api.photos.ingest import Added, Duplicate, IngestResult, ingest_photo
from api.photos.pages import InvalidCursor, decode_cursor, encode_cursor, read_page
from api.photos.records import STATUSES, PhotoRecord, filename_problem
from api.photos.types import (
    SOURCES,
    AddPhotoResult,
    DuplicatePhoto,
    InvalidImage,
    PageInfo,
    Photo,
    PhotoAdded,
    PhotoConnection,
    PhotoEdge,
    PhotoFilterInput,
)

MAX_PAGE = 100


@strawberry.type
class PhotoQuery:
    # Admins only: a photo shows its consensus and status, and a contributor who could read
    # them could copy the crowd, or the label of a gold photo, instead of answering.
    @strawberry.field(description="Admin: a photo by id; null when no photo has it.")
    async def photo(self, info: Info[Context, None], id: strawberry.ID) -> Photo | None:
        await info.context.admin()
        record = await store.find_photo(info.context.db, id_argument("id", id))
        return None if record is None else Photo.from_record(record)

    @strawberry.field(
        description=f"Admin: photos, a page at a time (`first` 1-{MAX_PAGE}, then `after` the "
        "last cursor), in a stable order."
    )
    async def photos(
        self,
        info: Info[Context, None],
        filter: PhotoFilterInput | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> PhotoConnection:
        await info.context.admin()
        if not 1 <= first <= MAX_PAGE:
            raise BadInput(f"first={first} is out of range; expected 1-{MAX_PAGE}")
        if filter is not None and filter.status is not None and filter.status not in STATUSES:
            raise BadInput(
                f"filter.status={filter.status!r} is no photo status; expected one of "
                + ", ".join(STATUSES)
            )
        try:
            after_key = None if after is None else decode_cursor(after)
        except InvalidCursor as exc:
            raise BadInput(f"{exc}; pass a cursor from a previous page") from None
        fetch = partial(
            _fetch_window,
            info.context,
            status=None if filter is None else filter.status,
            source=None if filter is None or filter.source is None else SOURCES[filter.source],
        )
        page = await read_page(fetch, first=first, after=after_key)
        edges = [
            PhotoEdge(node=Photo.from_record(record), cursor=encode_cursor(record))
            for record in page.photos
        ]
        end = edges[-1].cursor if edges else None
        return PhotoConnection(
            edges=edges, page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=end)
        )


async def _fetch_window(
    context: Context,
    after: str | None,
    below: str | None,
    *,
    status: str | None,
    source: str | None,
) -> list[PhotoRecord]:
    return await store.find_in_window(
        context.db, after=after, below=below, status=status, source=source
    )


@strawberry.type
class PhotoMutation:
    @strawberry.mutation(
        description="Upload a photo (GraphQL multipart request; JPEG, PNG or WebP, at most "
        "PHOTOSURVEY_MAX_UPLOAD_BYTES). Needs an admin token."
    )
    async def add_photo(
        self, info: Info[Context, None], file: Upload, filename: str | None = None
    ) -> AddPhotoResult:
        # Typed as bytes by strawberry; sent as a multipart file it is Starlette's UploadFile,
        # whose size the body limit (api/limits.py) has already capped, and which the view
        # closes with the request (`api.app`). A JSON value in its place arrives as is.
        caller = await info.context.admin()
        if not isinstance(file, UploadFile):
            raise BadInput(
                "file must be a file part of a GraphQL multipart request (the "
                "'operations' and 'map' form fields), not a JSON value"
            )
        name = filename or file.filename  # an empty filename is none given
        problem = None if name is None else filename_problem(name)
        if problem is not None:
            raise BadInput(f"filename {problem}")
        async with ingest_slot():
            data = await file.read()
            result = await ingest_photo(
                info.context.db, data, filename=name, source="upload", added_by=caller.id
            )
        return _add_photo_result(result)


def _add_photo_result(result: IngestResult) -> AddPhotoResult:
    if isinstance(result, Added):
        return PhotoAdded(photo=Photo.from_record(result.photo))
    if isinstance(result, Duplicate):
        return DuplicatePhoto(
            photo=Photo.from_record(result.photo),
            message=f"this photo is already stored as {result.photo.id}",
        )
    return InvalidImage(message=result.reason, accepted=f"{ACCEPTED} files")
