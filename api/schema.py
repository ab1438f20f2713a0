"""The GraphQL schema: root types composed from the domains, and the schema object."""

from __future__ import annotations

import logging
from enum import Enum

import strawberry
from graphql import GraphQLError, VariableDefinitionNode
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.types import ExecutionContext, Info

import api
from api.context import Context
from api.errors import ClientError
from api.photos.resolvers import PhotoMutation, PhotoQuery
from api.survey.resolvers import SurveyMutation, SurveyQuery
from api.unavailable import DatabaseErrors

logger = logging.getLogger(__name__)

MAX_TOKENS = 2000
MAX_ALIASES = 15
# Comments and long string literals do not count as tokens: the query's length is bounded
# too (the full introspection query is under 3,000 characters).
MAX_QUERY_CHARACTERS = 100_000


@strawberry.enum(description="Where the service keeps its data.")
class DatabaseKind(Enum):
    EMBEDDED = strawberry.enum_value(
        "embedded", description="The embedded MongoDB-compatible server (SecantusDB)."
    )
    MONGODB = strawberry.enum_value("mongodb", description="A MongoDB server or replica set.")


@strawberry.type(description="What this PhotoSurvey server is.")
class ServerInfo:
    version: str = strawberry.field(description="PhotoSurvey version.")
    database: DatabaseKind = strawberry.field(description="The kind of database in use.")


@strawberry.type(description="Read operations.")
class Query(SurveyQuery, PhotoQuery):
    @strawberry.field(description="The server's version and database; needs no token.")
    def server_info(self, info: Info[Context, None]) -> ServerInfo:
        settings = info.context.settings
        kind = DatabaseKind.EMBEDDED if settings.uses_embedded_database else DatabaseKind.MONGODB
        return ServerInfo(version=api.__version__, database=kind)


@strawberry.type(description="Operations that change something.")
class Mutation(SurveyMutation, PhotoMutation):
    pass


def _is_unexpected(error: GraphQLError) -> bool:
    """Errors raised by our code are unexpected unless they are `ClientError`s. The client's
    own are not: syntax and validation errors (no original error), and a variable of the
    wrong type (located at its definition; the message names it and what was wrong)."""
    original = error.original_error
    if original is None or isinstance(original, ClientError):
        return False
    return not (error.nodes and isinstance(error.nodes[0], VariableDefinitionNode))


class PhotoSurveySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Clients see "Unexpected error." (MaskErrors); the log keeps the cause, and the log
        # formatter adds the request id so the two can be matched.
        for error in errors:
            if _is_unexpected(error):
                logger.error(
                    "unexpected error in GraphQL execution",
                    exc_info=error.original_error,
                    extra={"path": error.path},
                )


schema = PhotoSurveySchema(
    query=Query,
    mutation=Mutation,
    extensions=[
        # Factories: one extension per operation; the caches live at module level.
        # Parsing and validation are 85-90% of a small query's cost (DESIGN.md).
        # Bounds on one document's size: aliases would let one request repeat a field (nextTasks,
        # past its count cap) hundreds of times; the longest operation a client sends (the
        # GraphiQL introspection query) is under 200 tokens.
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: ParserCache(maxsize=256),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: ValidationCache(maxsize=256),
        lambda: MaskErrors(should_mask_error=_is_unexpected),
        DatabaseErrors,  # after MaskErrors: it turns a lost connection into a client error first
    ],
)
