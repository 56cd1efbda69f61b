"""No "Did you mean ...?" in production: suggestions spell out the schema that introspection hides.

Strawberry's `disable_field_suggestions` strips them from unknown fields only; graphql-core adds
them to unknown arguments, types, enum values and input fields too, always as the message's last
sentence.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionResult, StreamExecutionResult

SUGGESTION = " Did you mean "


def without_suggestion(message: str) -> str:
    return message.split(SUGGESTION, 1)[0]


class HideSuggestions(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if isinstance(result, GraphQLExecutionResult | ExecutionResult):
            _strip(result.errors)
        else:
            _strip(getattr(getattr(result, "initial_result", None), "errors", None))

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        _strip(getattr(result, "errors", None))
        yield None


def _strip(errors: list[GraphQLError] | None) -> None:
    for error in errors or ():
        error.message = without_suggestion(error.message)
