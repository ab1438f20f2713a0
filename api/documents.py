"""GraphQL documents: each query parsed once and validated once (both cached), with the
linear checks of `api.query_limits` before graphql-core's rules.

`DocumentChecks` replaces strawberry's MaxTokensLimiter, ParserCache and ValidationCache:
it sets the execution context's document and ``pre_execution_errors``, so strawberry's own
parsing and validation steps are skipped; the operation-name check of `api.app` reads the
same cached parse. Each error graphql-core reports may cost milliseconds (a "Did you mean"
search over the schema's type names, the printing of a whole object value into the
message, the reading of the query up to the error to find its line), so one document gets
at most `MAX_ERRORS` of them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    parse,
    validate,
)
from strawberry.extensions import SchemaExtension

# strawberry's `validate_document` adds these two rules to every validation; this module
# calls graphql-core itself (to pass `max_errors` and `hide_suggestions`), so it adds them.
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from api.query_limits import QueryLimits, check_document

MAX_QUERY_CHARACTERS = 20_000
"""Comments and string literals are not tokens, so the query's length is bounded too
(GraphiQL's introspection query, the longest a client sends, has 2,000). The parser reads
a character in about 0.25 us, and finding an error's line reads the query up to it: this
keeps both to a few milliseconds. Checked by `api.app` before parsing."""
MAX_TOKENS = 2000
"""Tokens in one document; GraphiQL's introspection query has 177."""
LIMITS = QueryLimits()
MAX_ERRORS = 10
"""Validation errors reported for one document; graphql-core then stops with one more."""


@functools.lru_cache(maxsize=256)  # with the queries bounded, at most about 26 MB
def parse_document(query: str) -> DocumentNode:
    """The query's document; `GraphQLSyntaxError` when it is not one or has too many tokens."""
    return parse(query, max_tokens=MAX_TOKENS)


@functools.lru_cache(maxsize=256)
def validate_document(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    *,
    hide_suggestions: bool,
) -> list[GraphQLError]:
    """The document's errors: one `QueryTooComplex` when it exceeds a limit (graphql-core's
    rules do not run), else graphql-core's (none when it is valid)."""
    refusal = check_document(document, LIMITS)
    if refusal is not None:
        return [refusal]
    return validate(
        schema,
        document,
        (*rules, MaybeNullValidationRule, OneOfInputValidationRule),
        max_errors=MAX_ERRORS,
        hide_suggestions=hide_suggestions,
    )


class DocumentChecks(SchemaExtension):
    """Parses with `parse_document` and validates with `validate_document`; with
    `hide_suggestions`, error messages carry no "Did you mean ...?" (which would tell a
    client the names of the schema)."""

    def __init__(self, *, hide_suggestions: bool) -> None:
        self.hide_suggestions = hide_suggestions

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        assert context.query  # strawberry refuses a request without one before parsing
        context.graphql_document = parse_document(context.query)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None  # parsed before validation
        context.pre_execution_errors = validate_document(
            context.schema._schema,
            context.graphql_document,
            context.validation_rules,
            hide_suggestions=self.hide_suggestions,
        )
        yield
