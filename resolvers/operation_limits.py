"""Depth, alias and list-cost limits that follow fragment spreads in linear time.

Strawberry's `QueryDepthLimiter` and `MaxAliasesLimiter` walk a fragment again at every spread of
it, so fragments that each spread the next one twice cost 2^n: twenty of them (a 600-byte request)
held the event loop for 5 s here, and the 2,000-token limit leaves room for 150. These rules walk
each fragment once and remember what it adds. Depth is counted as Strawberry counts it (a
selection inside n nested fields is at depth n; introspection fields are not followed) and the
messages are Strawberry's, so clients see the same errors.

The list cost weighs list fields by how many items they may return: thirty aliases of
`courseCards` pass the alias limit and turn a 3 KB request into megabytes of response and a second
of CPU, since the alias limit counts names, not work. Each weighted list costs its page size, and
a document whose lists cost more than the budget is refused before it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)


class _Measure:
    """One walk's memo: what each fragment adds below the place it is spread."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode], weights: Mapping[str, int]) -> None:
        self._fragments = fragments
        self._weights = weights
        self._depths: dict[str, int] = {}
        self._aliases: dict[str, int] = {}
        self._costs: dict[str, int] = {}
        # A cycle is NoFragmentCyclesRule's to report; here it only must not recurse forever.
        self._open: set[str] = set()

    def depth(self, selection_set: SelectionSetNode) -> int:
        deepest = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.selection_set and not selection.name.value.startswith("__"):
                    deepest = max(deepest, 1 + self.depth(selection.selection_set))
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, self.depth(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                deepest = max(deepest, self._spread(selection.name.value, self._depths, self.depth))
        return deepest

    def aliases(self, selection_set: SelectionSetNode) -> int:
        count = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                count += selection.alias is not None
                if selection.selection_set:
                    count += self.aliases(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                count += self.aliases(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                count += self._spread(selection.name.value, self._aliases, self.aliases)
        return count

    def list_cost(self, selection_set: SelectionSetNode) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._weights.get(selection.name.value, 0)
                if selection.selection_set:
                    total += self.list_cost(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                total += self.list_cost(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._spread(selection.name.value, self._costs, self.list_cost)
        return total

    def _spread(self, name: str, memo: dict[str, int], measure: Callable[[SelectionSetNode], int]) -> int:
        if name in memo:
            return memo[name]
        fragment = self._fragments.get(name)
        if fragment is None or name in self._open:
            return 0
        self._open.add(name)
        try:
            memo[name] = measure(fragment.selection_set)
        finally:
            self._open.discard(name)
        return memo[name]


@dataclass(frozen=True)
class LimitValues:
    max_depth: int
    max_aliases: int
    list_weights: Mapping[str, int]  # list field -> the items it may return
    list_budget: int  # per operation


def list_weights(max_page_size: int) -> dict[str, int]:
    return {"courseCards": max_page_size, "myEnrollments": max_page_size}


def limits_rule(limits: LimitValues) -> type[ValidationRule]:
    class OperationLimitsRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            definitions = context.document.definitions
            fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
            operations = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
            measure = _Measure(fragments, limits.list_weights)
            try:
                depths = [measure.depth(operation.selection_set) for operation in operations]
                aliases = sum(measure.aliases(operation.selection_set) for operation in operations)
                costs = [measure.list_cost(operation.selection_set) for operation in operations]
            except RecursionError:
                context.report_error(GraphQLError("The document is nested too deeply."))
                return
            for operation, depth in zip(operations, depths, strict=True):
                if depth > limits.max_depth:
                    name = operation.name.value if operation.name else "anonymous"
                    message = f"'{name}' exceeds maximum operation depth of {limits.max_depth}"
                    context.report_error(GraphQLError(message, operation))
            if aliases > limits.max_aliases:
                context.report_error(GraphQLError(f"{aliases} aliases found. Allowed: {limits.max_aliases}"))
            for operation, spent in zip(operations, costs, strict=True):
                if spent > limits.list_budget:
                    message = (
                        f"the lists this operation selects may return {spent} items; allowed: "
                        f"{limits.list_budget} (select a list once, not under many aliases)"
                    )
                    context.report_error(GraphQLError(message, operation))

    return OperationLimitsRule
