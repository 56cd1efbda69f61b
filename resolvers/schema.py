"""The schema, its limits and its error policy, built once per app."""

from __future__ import annotations

from dataclasses import dataclass

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from resolvers.actors import AuditQueries
from resolvers.back_office import BackOfficeMutations, BackOfficeQueries
from resolvers.dashboard import DashboardQueries
from resolvers.errors import log_unexpected
from resolvers.jobs import JobMutations, JobQueries
from resolvers.mutations import Mutation
from resolvers.operation_label import root_fields
from resolvers.operation_limits import LimitValues, list_weights
from resolvers.operation_limits import limits_rule as operation_limits_rule
from resolvers.queries import Query
from resolvers.request_policy import DocumentCache, OperationRecorder, Policy, policy_extension
from resolvers.subscriptions import Subscription

# Distinct documents whose parse tree and validation are kept: clients send a handful.
DOCUMENT_CACHE_SIZE = 256


@dataclass(frozen=True)
class Limits:
    max_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 2000
    introspection: bool = True
    suggestions: bool = True
    max_page_size: int = 100  # what one list field weighs in the list cost


class EnrollwireSchema(strawberry.Schema):
    documents: DocumentCache  # the parse and validation cache, whose hit rate metrics report

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_unexpected(errors)


# Each feature contributes its own root classes; they are merged into one Query and Mutation.
QUERIES: tuple[type, ...] = (Query, JobQueries, AuditQueries, BackOfficeQueries, DashboardQueries)
MUTATIONS: tuple[type, ...] = (Mutation, JobMutations, BackOfficeMutations)
SUBSCRIPTION: type | None = Subscription


def build_schema(limits: Limits, recorder: OperationRecorder | None = None) -> EnrollwireSchema:
    limits_rule = operation_limits_rule(
        LimitValues(
            max_depth=limits.max_depth,
            max_aliases=limits.max_aliases,
            list_weights=list_weights(limits.max_page_size),
            # Two full lists per operation (the account page reads the catalogue and its enrollments).
            list_budget=2 * limits.max_page_size,
        )
    )
    policy = Policy(
        documents=DocumentCache(DOCUMENT_CACHE_SIZE, limits.max_tokens),
        max_tokens=limits.max_tokens,
        rules=Policy.rules_for(limits_rule, limits.introspection),
        hide_suggestions=not limits.suggestions,
        recorder=recorder,
    )
    schema = EnrollwireSchema(
        query=merge_types("Query", QUERIES),
        mutation=merge_types("Mutation", MUTATIONS),
        subscription=SUBSCRIPTION,
        extensions=[policy_extension(policy)],
        config=StrawberryConfig(disable_field_suggestions=not limits.suggestions),
    )
    policy.known = root_fields(schema._schema)
    schema.documents = policy.documents
    return schema
