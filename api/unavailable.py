"""A database that cannot be reached, as requests see it: `DATABASE_UNAVAILABLE`, HTTP 503.

Two ways to know: the embedded database's supervisor says it is down (requests then fail at
once instead of waiting for the driver's server-selection timeout), or a request's database
call fails for want of a connection (any database, MongoDB by URI included).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from pymongo.errors import ConnectionFailure
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.extensions import SchemaExtension

from api.errors import DatabaseUnavailable
from api.supervisor import DatabaseState, DatabaseStatus

logger = logging.getLogger(__name__)

HTTP_STATUS = 503
RETRY_AFTER_SECONDS = 5
"""Sent as ``Retry-After``: about what a restart of the embedded database takes."""

_LOST = "the database is unavailable (no connection to it); try again in a few seconds"
_KNOWN = {
    DatabaseState.RESTARTING: "the database is unavailable (the embedded database is "
    "restarting); try again in a few seconds",
    DatabaseState.FAILED: "the database is unavailable (the embedded database could not be "
    "restarted); the service needs an operator",
}
_NOT_RUNNING = "the database is unavailable (the embedded database is not running)"


def unavailable_error(status: DatabaseStatus | None) -> DatabaseUnavailable | None:
    """The error for a request while the supervisor's `status` holds; None when the database
    runs or is not supervised."""
    if status is None or status.running:
        return None
    return DatabaseUnavailable(_KNOWN.get(status.state, _NOT_RUNNING))


def is_unavailable(errors: list[GraphQLError] | None) -> bool:
    """Whether one of `errors` is (or, from a resolver, wraps) `DatabaseUnavailable`."""
    return any(
        isinstance(error, DatabaseUnavailable)
        or isinstance(error.original_error, DatabaseUnavailable)
        for error in errors or ()
    )


RETRY_HEADERS = {"Retry-After": str(RETRY_AFTER_SECONDS)}


async def unavailable_response(request: Request, exc: Exception) -> Response:
    """The answer of a route other than GraphQL that met an unavailable database (a
    Starlette exception handler for `DatabaseUnavailable` and PyMongo's `ConnectionFailure`)."""
    if isinstance(exc, DatabaseUnavailable):
        message = exc.message
    else:
        logger.warning("database unavailable during a request", extra={"reason": str(exc)})
        message = _LOST
    return JSONResponse({"error": message}, status_code=HTTP_STATUS, headers=RETRY_HEADERS)


class DatabaseErrors(SchemaExtension):
    """Turn errors caused by a lost database connection into `DATABASE_UNAVAILABLE` ones,
    which `MaskErrors` leaves alone. List it after `MaskErrors`: extensions finish in
    reverse order, and this one must see the errors first."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        lost = [e for e in result.errors if isinstance(e.original_error, ConnectionFailure)]
        if not lost:
            return
        reason = str(lost[0].original_error)
        logger.warning("database unavailable during a request", extra={"reason": reason})
        result.errors = [
            _unavailable(error) if isinstance(error.original_error, ConnectionFailure) else error
            for error in result.errors
        ]


def _unavailable(error: GraphQLError) -> GraphQLError:
    """`error` as a `DatabaseUnavailable`, at the same place in the result."""
    unavailable = DatabaseUnavailable(_LOST)
    return GraphQLError(
        unavailable.message,
        error.nodes,
        path=error.path,
        original_error=unavailable,
        extensions=unavailable.extensions,
    )
