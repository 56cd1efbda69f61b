"""The schema, its limits and its error policy, built once per app."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import strawberry
from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from resolvers.jobs import JobMutations, JobQueries
from resolvers.mutations import Mutation
from resolvers.queries import Query
from resolvers.subscriptions import Subscription

log = logging.getLogger("enrollwire.graphql")

# Codes a client may see; anything else raised in a resolver is a bug and gets masked.
PUBLIC_CODES = frozenset({"UNAUTHENTICATED", "FORBIDDEN", "VALIDATION_FAILED", "NOT_FOUND", "BAD_REQUEST"})


@dataclass(frozen=True)
class Limits:
    max_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 2000
    introspection: bool = True
    suggestions: bool = True


class RejectBadCredentials(SchemaExtension):
    """A present but invalid token fails the whole request; it is never treated as anonymous."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        error = getattr(context, "auth_error", None)
        if error is not None:
            self.execution_context.result = ExecutionResult(
                data=None, errors=[GraphQLError(str(error), extensions={"code": error.code})]
            )
        yield


class OperationRecorder(Protocol):
    def record(self, name: str, kind: str, outcome: str, seconds: float) -> None: ...


class OperationMetrics(SchemaExtension):
    """Counts every operation by name and outcome and times it."""

    def __init__(self, recorder: OperationRecorder) -> None:
        self._recorder = recorder

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        result = context.result
        outcome = "error" if (result is None or getattr(result, "errors", None)) else "ok"
        try:
            kind = context.operation_type.value
        except Exception:  # a document that never parsed has no operation type
            kind = "invalid"
        self._recorder.record(
            context.operation_name or "anonymous", kind, outcome, time.perf_counter() - started
        )


def is_client_facing(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None:
        return True  # validation and parse errors, or a GraphQLError we raised on purpose
    code = (error.extensions or {}).get("code")
    return isinstance(original, GraphQLError) or code in PUBLIC_CODES


class EnrollwireSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Client mistakes are the client's business; only our own failures reach the error log.
        for error in errors:
            if not is_client_facing(error):
                log.error(
                    "unexpected error in %s",
                    error.path,
                    exc_info=error.original_error,
                    extra={"graphql_path": error.path},
                )


def _mask(message: str) -> Callable[[], SchemaExtension]:
    return lambda: MaskErrors(should_mask_error=lambda e: not is_client_facing(e), error_message=message)


# Each feature contributes its own root classes; they are merged into one Query and Mutation.
QUERIES: tuple[type, ...] = (Query, JobQueries)
MUTATIONS: tuple[type, ...] = (Mutation, JobMutations)
SUBSCRIPTION: type | None = Subscription


def build_schema(limits: Limits, recorder: OperationRecorder | None = None) -> strawberry.Schema:
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        RejectBadCredentials,
        lambda: QueryDepthLimiter(max_depth=limits.max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=limits.max_aliases),
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        _mask("Internal server error."),
    ]
    if not limits.introspection:
        extensions.append(DisableIntrospection)
    if recorder is not None:
        extensions.insert(0, lambda: OperationMetrics(recorder))
    return EnrollwireSchema(
        query=merge_types("Query", QUERIES),
        mutation=merge_types("Mutation", MUTATIONS),
        subscription=SUBSCRIPTION,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not limits.suggestions),
    )
