"""Bounds on what one GraphQL document may ask, checked in time linear in the document.

graphql-core's validation is not linear in the document: its overlapping-fields rule
compares every pair of fields that share a response name in one selection set (490 copies
of ``serverInfo { version }``, under 2,000 tokens, take 0.9 s), and a walk that follows
fragment spreads without memory is exponential (26 fragments, each spreading the next one
twice). `check_document` runs first and refuses, with `QueryTooComplex`, a document that
would make a later check or the execution costly:

- more operations or fragment definitions than `QueryLimits` allows, or a fragment that
  spreads itself (directly or through others);
- too many selections, aliases or levels of fields, counted with every fragment spread
  expanded in place (each fragment is counted once and its counts reused: linear);
- a response name repeated too often in one selection set, with the fields that execution
  would merge (those of the same name under same-named parents, and those that inline
  fragments and spreads bring in) counted together, and too many pairs of such fields in
  the whole document: the overlapping-fields rule compares each pair (m fields, m(m - 1)/2
  comparisons);
- an argument or default value of too many values (each error about an object value prints
  the whole of it).

A fragment defined twice, or that no operation uses, gets graphql-core's own error here:
the counts above start from the operations and must see every fragment once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    ListValueNode,
    Node,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
)

from api.errors import ClientError


@dataclass(frozen=True, kw_only=True)
class QueryLimits:
    operations: int = 10
    """Operations in one document (only one runs; the others are validated too)."""
    fragments: int = 50
    """Fragment definitions in one document."""
    selections: int = 1000
    """Fields, inline fragments and spreads over all operations, with fragments expanded."""
    aliases: int = 15
    """Aliased fields over all operations, with fragments expanded: an alias lets one
    request run a field (nextTasks, past its count cap) again."""
    depth: int = 20
    """Levels of fields, with fragments expanded."""
    repeats: int = 16
    """Fields of one response name in one selection set, as execution merges them."""
    comparisons: int = 2000
    """Pairs of such fields over the document: graphql-core compares each pair (5-15 us)."""
    values: int = 100
    """Values in one argument or default value, nested ones included: graphql-core prints
    the whole of an object value into the error for each unknown field in it."""


class QueryTooComplex(ClientError):
    """The document exceeds one of the `QueryLimits`; `extensions` name the limit, its value
    and what the document had."""

    code = "QUERY_TOO_COMPLEX"

    def __init__(self, message: str, *, limit: str, allowed: int, found: int) -> None:
        super().__init__(message)
        assert self.extensions is not None  # set by ClientError
        self.extensions.update(limit=limit, allowed=allowed, found=found)


@dataclass(frozen=True)
class _Counts:
    """What a selection set holds, with every spread in it expanded."""

    selections: int
    aliases: int
    depth: int


@dataclass(frozen=True)
class _Local:
    """What a selection set holds itself, and its spreads with the depth each sits at."""

    counts: _Counts
    spreads: tuple[tuple[str, int], ...]


class _Cycle(Exception):
    def __init__(self, path: list[str]) -> None:
        self.path = path


def check_document(document: DocumentNode, limits: QueryLimits) -> GraphQLError | None:
    """The first limit `document` exceeds (a `QueryTooComplex`), or a fragment defined twice or
    used by no operation (graphql-core's errors for these); None when it keeps within all."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    definitions = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
    if len(operations) > limits.operations:
        return _refuse("operations", limits.operations, len(operations), "operations")
    if len(definitions) > limits.fragments:
        return _refuse("fragments", limits.fragments, len(definitions), "fragment definitions")
    roots = [_local(operation.selection_set) for operation in operations]
    expanded = _expand_fragments(definitions, roots)
    if isinstance(expanded, GraphQLError):
        return expanded
    fragments = {definition.name.value: definition for definition in definitions}
    return (
        _check_totals([_expanded(root, expanded) for root in roots], limits)
        or _check_merges(operations, fragments, limits)
        or _check_values(document, limits)
    )


def _expand_fragments(
    definitions: Sequence[FragmentDefinitionNode], roots: Sequence[_Local]
) -> dict[str, _Counts] | GraphQLError:
    """Each fragment's counts with its spreads expanded; or why they cannot be counted."""
    fragments = {definition.name.value: definition for definition in definitions}
    if len(fragments) < len(definitions):
        # graphql-core refuses these too (UniqueFragmentNames), but its other rules read one
        # definition per name: the checks here must see the same ones.
        twice = next(d for d in definitions if fragments[d.name.value] is not d)
        return GraphQLError(f"There can be only one fragment named {twice.name.value!r}.", twice)
    local = {name: _local(fragment.selection_set) for name, fragment in fragments.items()}
    try:
        expanded = _expand(local)
    except _Cycle as cycle:
        return QueryTooComplex(
            f"the fragment {cycle.path[0]!r} spreads itself ({' -> '.join(cycle.path)}); "
            "fragments may not form cycles",
            limit="fragment cycles",
            allowed=0,
            found=1,
        )
    unused = fragments.keys() - _used(roots, local)
    if unused:
        # graphql-core refuses these too (NoUnusedFragmentsRule). Refusing them first keeps
        # every fragment within the limits, which are counted from the operations.
        return GraphQLError(f"Fragment {min(unused)!r} is never used.", fragments[min(unused)])
    return expanded


def _refuse(limit: str, allowed: int, found: int, what: str) -> QueryTooComplex:
    return QueryTooComplex(
        f"the document has {found:,} {what}; at most {allowed:,} are allowed",
        limit=limit,
        allowed=allowed,
        found=found,
    )


def _local(selection_set: SelectionSetNode) -> _Local:
    """One walk over the selection set, without entering spreads."""
    selections = aliases = depth = 0
    spreads: list[tuple[str, int]] = []
    stack = [(selection_set, 1)]  # a selection set and the level of the fields in it
    while stack:
        current, level = stack.pop()
        for selection in current.selections:
            selections += 1
            if isinstance(selection, FieldNode):
                depth = max(depth, level)
                aliases += selection.alias is not None
                if selection.selection_set is not None:
                    stack.append((selection.selection_set, level + 1))
            elif isinstance(selection, InlineFragmentNode):
                stack.append((selection.selection_set, level))
            elif isinstance(selection, FragmentSpreadNode):
                spreads.append((selection.name.value, level - 1))
    return _Local(_Counts(selections, aliases, depth), tuple(spreads))


def _expanded(local: _Local, fragments: dict[str, _Counts]) -> _Counts:
    """`local` with each spread replaced by its fragment's (already expanded) counts. A
    spread of an unknown fragment counts as nothing: graphql-core reports it."""
    selections, aliases, depth = local.counts.selections, local.counts.aliases, local.counts.depth
    for name, level in local.spreads:
        if (counts := fragments.get(name)) is not None:
            selections += counts.selections
            aliases += counts.aliases
            depth = max(depth, level + counts.depth)
    return _Counts(selections, aliases, depth)


def _expand(local: dict[str, _Local]) -> dict[str, _Counts]:
    """Every fragment's expanded counts, each fragment computed once after the fragments it
    spreads (a depth-first walk without recursion); `_Cycle` when a fragment reaches itself."""
    done: dict[str, _Counts] = {}
    for root in local:
        path = [root] if root not in done else []
        on_path = set(path)
        pending = [iter(local[root].spreads)]
        while path:
            for name, _level in pending[-1]:
                if name in on_path:
                    raise _Cycle([*path[path.index(name) :], name])
                if name in local and name not in done:
                    path.append(name)
                    on_path.add(name)
                    pending.append(iter(local[name].spreads))
                    break
            else:
                name = path.pop()
                on_path.remove(name)
                pending.pop()
                done[name] = _expanded(local[name], done)
    return done


def _used(roots: Sequence[_Local], local: dict[str, _Local]) -> set[str]:
    """The fragments the operations spread, directly or through other fragments."""
    used: set[str] = set()
    pending = [name for root in roots for name, _level in root.spreads]
    while pending:
        name = pending.pop()
        if name in local and name not in used:
            used.add(name)
            pending.extend(spread for spread, _level in local[name].spreads)
    return used


def _check_totals(totals: Sequence[_Counts], limits: QueryLimits) -> QueryTooComplex | None:
    selections = sum(counts.selections for counts in totals)
    if selections > limits.selections:
        return _refuse(
            "selections",
            limits.selections,
            selections,
            "selections (fields, inline fragments and spreads, with fragments expanded)",
        )
    aliases = sum(counts.aliases for counts in totals)
    if aliases > limits.aliases:
        return _refuse("aliases", limits.aliases, aliases, "aliases (with fragments expanded)")
    depth = max((counts.depth for counts in totals), default=0)
    if depth > limits.depth:
        return QueryTooComplex(
            f"the document nests fields {depth:,} levels deep (with fragments expanded); "
            f"at most {limits.depth:,} are allowed",
            limit="depth",
            allowed=limits.depth,
            found=depth,
        )
    return None


def _check_merges(
    operations: Sequence[OperationDefinitionNode],
    fragments: dict[str, FragmentDefinitionNode],
    limits: QueryLimits,
) -> QueryTooComplex | None:
    """Walk each operation as execution merges it: the fields of one response name in a
    selection set (spreads and inline fragments flattened into it) form one group, and the
    selection sets of a group's fields form the next level. Each field of the expanded
    document is visited once, and the limits above have bounded their number."""
    comparisons = 0
    groups = [[operation.selection_set] for operation in operations]
    while groups:
        names: Counter[str] = Counter()
        below: dict[str, list[SelectionSetNode]] = {}
        for field in _fields(groups.pop(), fragments):
            name = field.alias.value if field.alias else field.name.value
            names[name] += 1
            if field.selection_set is not None:
                below.setdefault(name, []).append(field.selection_set)
        name, count = max(names.items(), key=lambda item: item[1], default=("", 0))
        if count > limits.repeats:
            return QueryTooComplex(
                f"the response name {name!r} is selected {count:,} times in one selection "
                "set (counting the fields that spreads, inline fragments and same-named "
                f"parent fields merge into it); at most {limits.repeats:,} are allowed",
                limit="repeats",
                allowed=limits.repeats,
                found=count,
            )
        comparisons += sum(count * (count - 1) // 2 for count in names.values())
        groups.extend(below.values())
    if comparisons > limits.comparisons:
        return _refuse(
            "comparisons",
            limits.comparisons,
            comparisons,
            "pairs of fields of one response name in one selection set, which validation "
            "compares one by one (n such fields make n(n - 1)/2)",
        )
    return None


def _fields(
    group: Sequence[SelectionSetNode], fragments: dict[str, FragmentDefinitionNode]
) -> Iterator[FieldNode]:
    """The fields of the selection sets in `group`, with spreads and inline fragments
    flattened into them."""
    pending = list(group)
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and (
                fragment := fragments.get(selection.name.value)
            ):
                pending.append(fragment.selection_set)


def _check_values(document: DocumentNode, limits: QueryLimits) -> QueryTooComplex | None:
    largest = 0
    pending: list[Node] = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, ValueNode):
            largest = max(largest, _size(node))
            continue
        for key in node.keys:
            child = getattr(node, key)
            if isinstance(child, Node):
                pending.append(child)
            elif isinstance(child, tuple | list):
                pending.extend(item for item in child if isinstance(item, Node))
    if largest > limits.values:
        return QueryTooComplex(
            f"an argument or default value in the document holds {largest:,} values (list "
            f"items and object fields, nested ones included); at most {limits.values:,} are "
            "allowed: send larger inputs as variables",
            limit="values",
            allowed=limits.values,
            found=largest,
        )
    return None


def _size(value: ValueNode) -> int:
    """The number of values in `value`, itself included."""
    size = 0
    pending = [value]
    while pending:
        node = pending.pop()
        size += 1
        if isinstance(node, ListValueNode):
            pending.extend(node.values)
        elif isinstance(node, ObjectValueNode):
            pending.extend(field.value for field in node.fields)
    return size
