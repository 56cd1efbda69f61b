"""Every operation's policy in one schema extension: credentials, transport, parse and validation
caches, limits, masking, suggestions and metrics.

Strawberry builds each extension afresh per operation and enters every hook of every extension
through a context manager; nine extensions cost more CPU per request than the resolvers of an
enroll. One extension, with the per-schema state built once in `Policy`, does the same work in
the same order:

- parse: the document from the cache (`DocumentCache`), with the token limit;
- validate: the cached result for that document, or the full rules, the limits among them;
- execute: a subscription over HTTP gets BAD_REQUEST; otherwise a bad token fails the request;
- after the operation, and on each streamed result: suggestions stripped (production), our own
  failures masked; then the operation is counted and timed.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, TypeGuard

from graphql import ASTValidationRule, DocumentNode, ExecutionResult, GraphQLError, parse
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.validation import NoSchemaIntrospectionCustomRule
from starlette.requests import Request
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionResult as StrawberryExecutionResult
from strawberry.types.execution import StreamExecutionResult
from strawberry.types.graphql import OperationType

from resolvers.errors import is_client_facing, masked
from resolvers.operation_label import operation_label
from resolvers.suggestions import without_suggestion

# Larger documents are parsed and validated afresh: the cache keeps each document's text (and
# its parse tree keeps the source), so 256 cached 1 MiB documents would pin ~0.5 GiB that any
# anonymous client can fill. Real clients' documents are a few KiB.
MAX_CACHED_DOCUMENT = 16 * 1024


Rule = type[ASTValidationRule]


def cacheable(query: str | None) -> TypeGuard[str]:
    return query is not None and len(query) <= MAX_CACHED_DOCUMENT


@dataclass
class _Entry:
    document: DocumentNode
    errors: list[GraphQLError] | None = None  # None: not validated yet


@dataclass(frozen=True)
class CacheStats:
    parse_hits: int
    parse_misses: int
    validate_hits: int
    validate_misses: int


class DocumentCache:
    """Parse trees by document text and each tree's validation errors, least recently used out.

    Every validation rule, the limits included, is fixed when the schema is built, so a
    document's validation errors depend on the document alone. A document that does not parse
    is not kept (it raises each time), nor is one over `MAX_CACHED_DOCUMENT`.
    """

    def __init__(self, maxsize: int, max_tokens: int) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._maxsize = maxsize
        self._max_tokens = max_tokens
        self.parse_hits = self.parse_misses = self.validate_hits = self.validate_misses = 0

    def parse(self, query: str) -> DocumentNode:
        entry = self._entries.get(query)
        if entry is not None:
            self._entries.move_to_end(query)
            self.parse_hits += 1
            return entry.document
        self.parse_misses += 1
        document = parse(query, max_tokens=self._max_tokens)
        self._entries[query] = _Entry(document)
        if len(self._entries) > self._maxsize:
            self._entries.popitem(last=False)
        return document

    def validated(self, query: str, document: DocumentNode) -> list[GraphQLError] | None:
        """The errors validation found in this very document; None: not validated yet."""
        entry = self._entries.get(query)
        if entry is None or entry.document is not document or entry.errors is None:
            self.validate_misses += 1
            return None
        self.validate_hits += 1
        return list(entry.errors)

    def remember(self, query: str, document: DocumentNode, errors: list[GraphQLError]) -> None:
        entry = self._entries.get(query)
        if entry is not None and entry.document is document:
            entry.errors = list(errors)

    def stats(self) -> CacheStats:
        return CacheStats(self.parse_hits, self.parse_misses, self.validate_hits, self.validate_misses)


class OperationRecorder(Protocol):
    def record(self, name: str, kind: str, outcome: str, seconds: float | None) -> None:
        """`seconds` is None for a subscription: how long one stays open is no latency."""


@dataclass
class Policy:
    """What every operation shares, built once per schema."""

    documents: DocumentCache
    max_tokens: int
    rules: tuple[Rule, ...]  # besides graphql-core's own
    hide_suggestions: bool
    recorder: OperationRecorder | None = None
    known: frozenset[str] = field(default_factory=frozenset)  # root fields, once the schema is built

    @staticmethod
    def rules_for(
        limits_rule: type[ASTValidationRule], introspection: bool
    ) -> tuple[type[ASTValidationRule], ...]:
        return (limits_rule,) if introspection else (limits_rule, NoSchemaIntrospectionCustomRule)


def _error_result(message: str, code: str) -> ExecutionResult:
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code})])


class RequestPolicy(SchemaExtension):
    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._streamed = False

    def on_operation(self) -> Iterator[None]:
        self.execution_context.parse_options["max_tokens"] = self._policy.max_tokens
        started = time.perf_counter()
        try:
            yield
            if not self._streamed:
                result = self.execution_context.result
                if not isinstance(result, GraphQLExecutionResult | StrawberryExecutionResult):
                    result = getattr(result, "initial_result", None)
                self._clean(result)
        finally:
            # Also when the operation is cancelled: a subscription usually ends that way,
            # when its client completes it or goes away.
            if self._policy.recorder is not None:
                self._record(time.perf_counter() - started)

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if cacheable(context.query):
            context.graphql_document = self._policy.documents.parse(context.query)
        yield  # otherwise Strawberry parses it, with the token limit set above

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        query, document = context.query, context.graphql_document
        cached = None
        if cacheable(query) and document is not None:
            cached = self._policy.documents.validated(query, document)
        if cached is not None:
            context.pre_execution_errors = cached  # Strawberry skips its own validation
            yield
            return
        context.validation_rules = (*context.validation_rules, *self._policy.rules)
        yield
        errors = context.pre_execution_errors
        if cacheable(query) and document is not None and errors is not None:
            self._policy.documents.remember(query, document, errors)

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        over_http = isinstance(getattr(context.context, "request", None), Request)
        if over_http and context.operation_type is OperationType.SUBSCRIPTION:
            message = "subscriptions are served over WebSocket (graphql-transport-ws) at /graphql"
            context.result = _error_result(message, "BAD_REQUEST")
        elif (error := getattr(context.context, "auth_error", None)) is not None:
            # A present but invalid token fails the whole request; it is never treated as anonymous.
            context.result = _error_result(str(error), error.code)
        yield

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        self._streamed = True
        self._clean(result)
        for part in (
            *(getattr(result, "incremental", None) or ()),
            *(getattr(result, "completed", None) or ()),
        ):
            self._clean(part)
        yield None

    def _clean(self, result: object) -> None:
        errors: list[GraphQLError] | None = getattr(result, "errors", None)
        if not errors:
            return
        request_id = getattr(self.execution_context.context, "request_id", "") or None
        if self._policy.hide_suggestions:
            for error in errors:
                error.message = without_suggestion(error.message)
        # What a client sees of our own failures: one generic message and the request id to quote.
        result.errors = [e if is_client_facing(e) else masked(e, request_id) for e in errors]  # type: ignore[attr-defined]

    def _record(self, seconds: float) -> None:
        context = self.execution_context
        assert self._policy.recorder is not None
        try:
            kind = context.operation_type.value
        except Exception:  # a document that never parsed has no operation type
            kind = "invalid"
        result = context.result
        failed = bool(getattr(result, "errors", None))
        subscription = kind == "subscription"
        if not subscription:
            failed = failed or result is None
        self._policy.recorder.record(
            operation_label(context.graphql_document, context.operation_name, self._policy.known),
            kind,
            "error" if failed else "ok",
            None if subscription else seconds,
        )


def policy_extension(policy: Policy) -> Callable[[], SchemaExtension]:
    return lambda: RequestPolicy(policy)
