"""Which GraphQL errors are masked as "Unexpected error." and logged: ours, not the client's."""

from graphql import GraphQLError, parse
from graphql.language import OperationDefinitionNode

from api.errors import BadInput
from api.schema import _is_unexpected

VARIABLE = parse("query($c: Int!) { me { name } }").definitions[0]
assert isinstance(VARIABLE, OperationDefinitionNode)
DEFINITION = VARIABLE.variable_definitions[0]
FIELD = VARIABLE.selection_set.selections[0]


def test_a_fault_in_our_code_is_unexpected_with_or_without_a_path() -> None:
    in_resolver = GraphQLError("db down", FIELD, path=["me"], original_error=RuntimeError())
    in_a_hook = GraphQLError("boom", original_error=KeyError("secret"))
    assert _is_unexpected(in_resolver)
    assert _is_unexpected(in_a_hook)


def test_the_clients_mistakes_are_not() -> None:
    syntax = GraphQLError("Syntax Error: Expected Name")
    refused = BadInput("count must be 1-20; got 0")
    wrong_variable = GraphQLError(
        "Variable '$c' has invalid value: Int cannot represent non-integer value: 'x'",
        DEFINITION,
        original_error=TypeError("not an int"),
    )
    assert not _is_unexpected(syntax)
    assert not _is_unexpected(GraphQLError(refused.message, FIELD, original_error=refused))
    assert not _is_unexpected(wrong_variable)
