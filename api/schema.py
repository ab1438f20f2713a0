"""The GraphQL schema: root types composed from the domains, and the schema factory."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError, VariableDefinitionNode
from graphql.execution import Executor
from strawberry.extensions import DisableIntrospection, MaskErrors, SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext, Info

import api
from api.context import Context
from api.documents import DocumentChecks
from api.errors import ClientError
from api.photos.resolvers import PhotoMutation, PhotoQuery
from api.survey.resolvers import SurveyMutation, SurveyQuery
from api.unavailable import DatabaseErrors

logger = logging.getLogger(__name__)


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


class _ExecutorWithoutSuggestions(StrawberryGraphQLCoreExecutionContext):
    """Reads variables without "Did you mean ...?" in its errors (an unknown input field, an
    enum value that does not exist): they would tell a client the names of the schema."""

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> list[GraphQLError] | Executor[Any]:
        return super().build(*args, **{**kwargs, "hide_suggestions": True})


@functools.cache  # two schemas at most, each built once
def build_schema(*, introspection: bool) -> PhotoSurveySchema:
    """The schema; without `introspection`, it refuses introspection queries and its errors
    suggest no names ("Did you mean ...?"), so a client learns only what it already knows.
    The types and fields are the same either way (``photosurvey export-schema``)."""
    # Factories: one extension per operation; the caches live at module level.
    # Parsing and validation are 85-90% of a small query's cost (DESIGN.md).
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: DocumentChecks(hide_suggestions=not introspection),
        lambda: MaskErrors(should_mask_error=_is_unexpected),
        DatabaseErrors,  # after MaskErrors: it turns a lost connection into a client error first
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return PhotoSurveySchema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        execution_context_class=None if introspection else _ExecutorWithoutSuggestions,
    )
