"""Which GraphQL errors a client may read as they are, and what it sees of the others."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

log = logging.getLogger("enrollwire.graphql")

# Codes a client may see; anything else raised in a resolver is a bug and gets masked.
PUBLIC_CODES = frozenset({"UNAUTHENTICATED", "FORBIDDEN", "VALIDATION_FAILED", "NOT_FOUND", "BAD_REQUEST"})
MASKED_MESSAGE = "Internal server error."
INTERNAL_CODE = "INTERNAL_SERVER_ERROR"
# The client's choice of operation (a query over the legacy subscription protocol, an unknown
# operation name): Strawberry wraps these as if they were ours.
CLIENT_MISTAKES = (CannotGetOperationTypeError, InvalidOperationTypeError)


def is_client_facing(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None:
        return True  # validation and parse errors, or a GraphQLError we raised on purpose
    code = (error.extensions or {}).get("code")
    return isinstance(original, (GraphQLError, *CLIENT_MISTAKES)) or code in PUBLIC_CODES


def log_unexpected(errors: list[GraphQLError]) -> None:
    # Client mistakes are the client's business; only our own failures reach the error log.
    for error in errors:
        if not is_client_facing(error):
            log.error(
                "unexpected error in %s",
                error.path,
                exc_info=error.original_error,
                extra={"graphql_path": error.path},
            )


def masked(error: GraphQLError, request_id: str | None) -> GraphQLError:
    """Our own failure as a client sees it: its place, and the request id to quote to support."""
    return GraphQLError(
        MASKED_MESSAGE,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": INTERNAL_CODE, "requestId": request_id},
    )


def formatted(error: GraphQLError, request_id: str | None) -> dict[str, Any]:
    return dict((error if is_client_facing(error) else masked(error, request_id)).formatted)


class ClientErrors:
    """This policy as `realtime.feeds` takes it: a shared feed formats and logs errors like Strawberry."""

    def format(self, error: GraphQLError, request_id: str | None) -> dict[str, Any]:
        return formatted(error, request_id)

    def log_unexpected(self, errors: list[GraphQLError]) -> None:
        log_unexpected(errors)
