"""The ``contributors`` collection."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pymongo import ASCENDING, IndexModel

from api import counters
from api.auth.tokens import hash_token, new_token
from api.database import CollectionIndexes, Database, Document

Role = Literal["admin", "contributor"]

INDEXES = CollectionIndexes(
    "contributors",
    (
        IndexModel([("token_sha256", ASCENDING)], unique=True, name="token"),
        IndexModel([("name", ASCENDING)], unique=True, name="name"),
    ),
)


@dataclass(frozen=True)
class Contributor:
    id: str
    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @classmethod
    def from_document(cls, doc: Document) -> Contributor:
        return cls(id=doc["_id"], name=doc["name"], role=doc["role"])


async def add_contributor(db: Database, name: str, *, role: Role) -> tuple[Contributor, str]:
    """Create a contributor; returns it with its token, which is never stored or shown again.

    Raises `pymongo.errors.DuplicateKeyError` when the name is taken.
    """
    token = new_token()
    doc: Document = {
        "_id": uuid.uuid4().hex,
        "name": name,
        "role": role,
        "token_sha256": hash_token(token),
        "answer_count": 0,
        "created_at": datetime.now(UTC),
    }
    await db.contributors.insert_one(doc)
    await counters.count(db, contributors=1)
    return Contributor.from_document(doc), token


# What a `Contributor` needs: every request reads it, and the rest of the document (the
# confusion counts of `api.consensus`) grows with the label space.
_FIELDS = ("name", "role")


async def find_by_token(db: Database, token: str) -> Contributor | None:
    doc = await db.contributors.find_one({"token_sha256": hash_token(token)}, _FIELDS)
    return None if doc is None else Contributor.from_document(doc)


async def issue_token(db: Database, name: str, *, role: Role) -> str:
    """A new token for `name`, creating the contributor if needed (any old token stops
    working). For development accounts that are re-issued at every start."""
    token = new_token()
    issued = await db.contributors.update_one(
        {"name": name},
        {
            "$set": {"token_sha256": hash_token(token), "role": role},
            "$setOnInsert": {
                "_id": uuid.uuid4().hex,
                "answer_count": 0,
                "created_at": datetime.now(UTC),
            },
        },
        upsert=True,
    )
    if issued.upserted_id is not None:
        await counters.count(db, contributors=1)
    return token
