"""Errors a GraphQL client can act on, reported with a machine-readable ``code``.

    ClientError (a GraphQLError: never masked, never logged as a fault)
    ├── Unauthenticated   no token, or one that matches no contributor
    ├── Forbidden         the contributor's role does not allow the operation
    ├── BadInput          an argument is out of range or malformed
    ├── LimitReached      the caller holds as much as one contributor may (leased tasks)
    ├── TryAgain          concurrent writes kept winning; sending the same request again
    │                     is safe and finishes it
    └── DatabaseUnavailable  the database cannot be reached now (HTTP 503); send the
                          request again later (`submitAnswer` with the same idempotencyKey)

Outcomes a client is expected to handle in normal use (an expired lease, a replayed key) are
not errors but members of result unions in the schema.
"""

from __future__ import annotations

from typing import ClassVar

from graphql import GraphQLError


class ClientError(GraphQLError):
    code: ClassVar[str] = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": self.code})


class Unauthenticated(ClientError):
    code = "UNAUTHENTICATED"


class Forbidden(ClientError):
    code = "FORBIDDEN"


class BadInput(ClientError):
    code = "BAD_USER_INPUT"


class LimitReached(ClientError):
    code = "LIMIT_REACHED"


class TryAgain(ClientError):
    code = "TRY_AGAIN"


class DatabaseUnavailable(ClientError):
    code = "DATABASE_UNAVAILABLE"


MAX_ID_LENGTH = 128
"""Longer than any id the service makes (24 to 32 characters); a longer one is refused before
it reaches the database, which fails on a query of over 16 MB."""


def id_argument(name: str, value: str) -> str:
    """An id argument as a plain string; `BadInput` naming it when it is too long to be one."""
    if len(value) > MAX_ID_LENGTH:
        raise BadInput(f"{name} is {len(value)} characters; ids are at most {MAX_ID_LENGTH}")
    return str(value)
