"""GraphQL types for photos. They are built from `PhotoRecord`s and never touch the store."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from api.context import Context
from api.photos import records
from api.photos.images import SMALL_SIDE
from api.photos.records import PhotoRecord
from api.photos.signing import signed_photo_url
from api.prelabel.store import prelabel_problem
from api.survey.types import PhotoConsensus, Prediction


@strawberry.enum(description="Which stored version of a photo.")
class PhotoSize(Enum):
    SMALL = strawberry.enum_value(
        "small",
        description=f"An upright JPEG whose shorter side is {SMALL_SIDE} px (never enlarged).",
    )
    ORIGINAL = strawberry.enum_value("original", description="The bytes as received.")


SIZES: dict[PhotoSize, records.PhotoSize] = {
    PhotoSize.SMALL: "small",
    PhotoSize.ORIGINAL: "original",
}


@strawberry.enum(description="How a photo came in.")
class PhotoSource(Enum):
    IMPORT = strawberry.enum_value("import", description="`photosurvey import` from files.")
    UPLOAD = strawberry.enum_value("upload", description="The `addPhoto` mutation.")
    SAMPLE = strawberry.enum_value("sample", description="A bundled sample photo (dev).")


SOURCES: dict[PhotoSource, records.PhotoSource] = {
    PhotoSource.IMPORT: "import",
    PhotoSource.UPLOAD: "upload",
    PhotoSource.SAMPLE: "sample",
}
_SOURCE_OF = {name: source for source, name in SOURCES.items()}


@strawberry.type(description="A photo to be labelled.")
class Photo:
    id: strawberry.ID = strawberry.field(
        description="The first 24 hex digits of the SHA-256 of the original bytes."
    )
    filename: str | None = strawberry.field(description="The file's name when it came in.")
    width: int = strawberry.field(description="Upright width of the original, in pixels.")
    height: int = strawberry.field(description="Upright height of the original, in pixels.")
    content_type: str = strawberry.field(
        description="MIME type of the original: image/jpeg, image/png or image/webp."
    )
    size_bytes: int = strawberry.field(description="Size of the original, in bytes.")
    source: PhotoSource = strawberry.field(description="How the photo came in.")
    created_at: datetime = strawberry.field(description="When it was stored (UTC).")
    status: str = strawberry.field(
        description="Where the photo is in the survey pipeline; `new` until pre-labelled."
    )

    @strawberry.field(
        description="A signed URL for the photo that works without a token until it expires "
        "(PHOTOSURVEY_PHOTO_URL_SECONDS); relative to this server."
    )
    def url(self, info: Info[Context, None], size: PhotoSize = PhotoSize.SMALL) -> str:
        return signed_photo_url(str(self.id), settings=info.context.settings, size=SIZES[size])

    @strawberry.field(description="Answers stored for this photo so far.")
    async def answer_count(self, info: Info[Context, None]) -> int:
        state = await info.context.loaders.survey_states.load(str(self.id))
        return int(state.get("answer_count", 0))

    @strawberry.field(
        description="What the answers say (or the model, when it labelled the photo); null "
        "until the first answer."
    )
    async def consensus(self, info: Info[Context, None]) -> PhotoConsensus | None:
        state = await info.context.loaders.survey_states.load(str(self.id))
        return PhotoConsensus.from_state(state)

    @strawberry.field(
        description="Why the model has not labelled the photo: it cannot be read (status "
        "`unreadable`), or the model failed on it (status `new` until another model file is "
        "loaded); null otherwise."
    )
    async def prelabel_problem(self, info: Info[Context, None]) -> str | None:
        state = await info.context.loaders.survey_states.load(str(self.id))
        return prelabel_problem(state)

    @strawberry.field(description="The model's predictions for this photo, one per model version.")
    async def predictions(self, info: Info[Context, None]) -> list[Prediction]:
        docs = await info.context.loaders.predictions.load(str(self.id))
        return [Prediction.from_document(doc) for doc in docs]

    @classmethod
    def from_record(cls, record: PhotoRecord) -> Photo:
        return cls(
            id=strawberry.ID(record.id),
            filename=record.filename,
            width=record.width,
            height=record.height,
            content_type=record.content_type,
            size_bytes=record.size_bytes,
            source=_SOURCE_OF[record.source],
            created_at=record.created_at,
            status=record.status,
        )


@strawberry.type(description="One photo in a page of photos.")
class PhotoEdge:
    node: Photo = strawberry.field(description="The photo.")
    cursor: str = strawberry.field(description="Pass as `after` to continue after this photo.")


@strawberry.type(description="Where a page sits in the whole list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more items follow this page.")
    end_cursor: str | None = strawberry.field(
        description="The last item's cursor; null on an empty page."
    )


@strawberry.type(description="A page of photos, in a stable order (by content hash).")
class PhotoConnection:
    edges: list[PhotoEdge] = strawberry.field(description="The photos of this page.")
    page_info: PageInfo = strawberry.field(description="How to fetch the next page.")


@strawberry.input(description="Narrows `photos`; every field given must match.")
class PhotoFilterInput:
    status: str | None = strawberry.field(
        default=None, description="Only photos with this status (e.g. `new`)."
    )
    source: PhotoSource | None = strawberry.field(
        default=None, description="Only photos that came in this way."
    )


@strawberry.type(description="The photo was stored.")
class PhotoAdded:
    photo: Photo = strawberry.field(description="The new photo.")


@strawberry.type(description="The same bytes are already stored; nothing was added.")
class DuplicatePhoto:
    photo: Photo = strawberry.field(description="The photo already stored.")
    message: str = strawberry.field(description="What happened, fit to show.")


@strawberry.type(description="The upload is not a usable photo; nothing was stored.")
class InvalidImage:
    message: str = strawberry.field(description="What was wrong with the file.")
    accepted: str = strawberry.field(description="What is accepted.")


AddPhotoResult = Annotated[
    PhotoAdded | DuplicatePhoto | InvalidImage,
    strawberry.union("AddPhotoResult", description="The outcome of `addPhoto`."),
]
