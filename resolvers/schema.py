"""The schema, its limits and its error policy, built once per app."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeGuard

import strawberry
from graphql import ExecutionResult, GraphQLError
from starlette.requests import Request
from strawberry.extensions import MaxTokensLimiter, ParserCache, SchemaExtension
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from resolvers.actors import AuditQueries
from resolvers.back_office import BackOfficeMutations, BackOfficeQueries
from resolvers.dashboard import DashboardQueries
from resolvers.errors import log_unexpected
from resolvers.jobs import JobMutations, JobQueries
from resolvers.masking import MaskUnexpected
from resolvers.mutations import Mutation
from resolvers.operation_label import operation_label, root_fields
from resolvers.operation_limits import LimitValues, OperationLimits, list_weights
from resolvers.operation_limits import limits_rule as operation_limits_rule
from resolvers.queries import Query
from resolvers.subscriptions import Subscription
from resolvers.suggestions import HideSuggestions

# Distinct documents whose parse tree and validation are kept: clients send a handful.
DOCUMENT_CACHE_SIZE = 256
# Larger documents are parsed and validated afresh: the caches keep each document's text (and
# its parse tree keeps the source), so 256 cached 1 MiB documents would pin ~0.5 GiB that any
# anonymous client can fill. Real clients' documents are a few KiB.
MAX_CACHED_DOCUMENT = 16 * 1024


@dataclass(frozen=True)
class Limits:
    max_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 2000
    introspection: bool = True
    suggestions: bool = True
    max_page_size: int = 100  # what one list field weighs in the list cost


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


class SubscriptionsOverWebSocket(SchemaExtension):
    """A subscription sent over HTTP gets a clear error instead of running (and failing) there."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        over_http = isinstance(getattr(context.context, "request", None), Request)
        if over_http and context.operation_type is OperationType.SUBSCRIPTION:
            message = "subscriptions are served over WebSocket (graphql-transport-ws) at /graphql"
            context.result = ExecutionResult(
                data=None, errors=[GraphQLError(message, extensions={"code": "BAD_REQUEST"})]
            )
        yield


def cacheable(query: str | None) -> TypeGuard[str]:
    return query is not None and len(query) <= MAX_CACHED_DOCUMENT


class SmallDocumentParserCache(ParserCache):
    def on_parse(self) -> Iterator[None]:
        if cacheable(self.execution_context.query):
            yield from super().on_parse()
        else:
            yield  # Strawberry parses the document itself


class CachedValidation(SchemaExtension):
    """Validates each distinct document once per schema instead of once per request.

    Every rule, the limits included, is fixed when the schema is built, so a document's
    validation errors depend on its text alone. Strawberry's `ValidationCache` keys on the
    rule classes too, which the limit extensions create afresh per request: it never hits.
    """

    def __init__(self, cache: OrderedDict[str, list[GraphQLError]], maxsize: int) -> None:
        self._cache, self._maxsize = cache, maxsize

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        cached = self._cache.get(query) if cacheable(query) else None
        if cached is not None:
            self._cache.move_to_end(query)  # type: ignore[arg-type]  # not None when cached
            context.pre_execution_errors = list(cached)
        yield
        if cached is None and cacheable(query) and context.pre_execution_errors is not None:
            self._cache[query] = list(context.pre_execution_errors)
            if len(self._cache) > self._maxsize:
                self._cache.popitem(last=False)


class OperationRecorder(Protocol):
    def record(self, name: str, kind: str, outcome: str, seconds: float | None) -> None:
        """`seconds` is None for a subscription: how long one stays open is no latency."""


class OperationMetrics(SchemaExtension):
    """Counts every operation by name and outcome and times it."""

    def __init__(self, recorder: OperationRecorder, known: Callable[[], frozenset[str]]) -> None:
        self._recorder = recorder
        self._known = known

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            # Also when the operation is cancelled: a subscription usually ends that way,
            # when its client completes it or goes away.
            self._record(time.perf_counter() - started)

    def _record(self, seconds: float) -> None:
        context = self.execution_context
        try:
            kind = context.operation_type.value
        except Exception:  # a document that never parsed has no operation type
            kind = "invalid"
        result = context.result
        failed = bool(getattr(result, "errors", None))
        subscription = kind == "subscription"
        if not subscription:
            failed = failed or result is None
        self._recorder.record(
            operation_label(context.graphql_document, context.operation_name, self._known()),
            kind,
            "error" if failed else "ok",
            None if subscription else seconds,
        )


class EnrollwireSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_unexpected(errors)


# Each feature contributes its own root classes; they are merged into one Query and Mutation.
QUERIES: tuple[type, ...] = (Query, JobQueries, AuditQueries, BackOfficeQueries, DashboardQueries)
MUTATIONS: tuple[type, ...] = (Mutation, JobMutations, BackOfficeMutations)
SUBSCRIPTION: type | None = Subscription


def build_schema(limits: Limits, recorder: OperationRecorder | None = None) -> strawberry.Schema:
    validated: OrderedDict[str, list[GraphQLError]] = OrderedDict()
    limits_rule = operation_limits_rule(
        LimitValues(
            max_depth=limits.max_depth,
            max_aliases=limits.max_aliases,
            list_weights=list_weights(limits.max_page_size),
            # Two full lists per operation (the account page reads the catalogue and its enrollments).
            list_budget=2 * limits.max_page_size,
        )
    )
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        RejectBadCredentials,
        SubscriptionsOverWebSocket,
        lambda: SmallDocumentParserCache(maxsize=DOCUMENT_CACHE_SIZE),
        lambda: CachedValidation(validated, DOCUMENT_CACHE_SIZE),
        lambda: OperationLimits(limits_rule),
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        MaskUnexpected,
    ]
    if not limits.introspection:
        extensions.append(DisableIntrospection)
    if not limits.suggestions:
        extensions.append(HideSuggestions)
    if recorder is not None:
        extensions.insert(0, lambda: OperationMetrics(recorder, lambda: known))
    schema = EnrollwireSchema(
        query=merge_types("Query", QUERIES),
        mutation=merge_types("Mutation", MUTATIONS),
        subscription=SUBSCRIPTION,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not limits.suggestions),
    )
    known = root_fields(schema._schema)
    return schema
