"""Validation of a GraphQL document: the linear checks of `api.query_limits` first, then
graphql-core's rules, both cached.

`CheckedValidation` replaces strawberry's `ValidationCache`: it sets the execution context's
``pre_execution_errors``, so strawberry's own validation step is skipped. Each error
graphql-core reports costs up to a few milliseconds (a "Did you mean" search over the
schema's type names, or the printing of a whole object value into the message), so one
document gets at most `MAX_ERRORS` of them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, validate
from strawberry.extensions import SchemaExtension

# strawberry's `validate_document` adds these two rules to every validation; this module
# calls graphql-core itself (to pass `max_errors` and `hide_suggestions`), so it adds them.
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from api.query_limits import QueryLimits, check_document

LIMITS = QueryLimits()
MAX_ERRORS = 10
"""Validation errors reported for one document; graphql-core then stops with one more."""


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


class CheckedValidation(SchemaExtension):
    """Validates with `validate_document`; with `hide_suggestions`, error messages carry no
    "Did you mean ...?" (which would tell a client the names of the schema)."""

    def __init__(self, *, hide_suggestions: bool) -> None:
        self.hide_suggestions = hide_suggestions

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
