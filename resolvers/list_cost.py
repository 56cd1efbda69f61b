"""A cost limit that weighs list fields by how many items they may return.

Thirty aliases of `courseCards` pass the alias limit and turn a 3 KB request into megabytes of
response and a second of CPU: the alias limit counts names, not work. Each list field here costs
its expected size (the catalogue: up to `max_page_size` cards), and a document whose lists cost
more than the budget is refused before it runs. Fragments are measured once and reused, in
linear time, as in `resolvers.operation_limits`.
"""

from __future__ import annotations

from collections.abc import Mapping

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


def list_weights(max_page_size: int) -> dict[str, int]:
    return {"courseCards": max_page_size, "myEnrollments": max_page_size}


class _Cost:
    def __init__(self, fragments: dict[str, FragmentDefinitionNode], weights: Mapping[str, int]) -> None:
        self._fragments, self._weights = fragments, weights
        self._memo: dict[str, int] = {}
        self._open: set[str] = set()

    def of(self, selection_set: SelectionSetNode) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._weights.get(selection.name.value, 0)
                if selection.selection_set:
                    total += self.of(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                total += self.of(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._spread(selection.name.value)
        return total

    def _spread(self, name: str) -> int:
        if name in self._memo:
            return self._memo[name]
        fragment = self._fragments.get(name)
        if fragment is None or name in self._open:
            return 0
        self._open.add(name)
        try:
            self._memo[name] = self.of(fragment.selection_set)
        finally:
            self._open.discard(name)
        return self._memo[name]


def list_cost_rule(weights: Mapping[str, int], budget: int) -> type[ValidationRule]:
    class ListCostRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            definitions = context.document.definitions
            fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
            cost = _Cost(fragments, weights)
            try:
                for operation in definitions:
                    if isinstance(operation, OperationDefinitionNode):
                        spent = cost.of(operation.selection_set)
                        if spent > budget:
                            message = (
                                f"the lists this operation selects may return {spent} items; allowed: "
                                f"{budget} (select a list once, not under many aliases)"
                            )
                            context.report_error(GraphQLError(message, operation))
            except RecursionError:
                context.report_error(GraphQLError("The document is nested too deeply."))

    return ListCostRule
