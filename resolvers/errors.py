"""Which GraphQL errors a client may read as they are, and what it sees of the others."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

log = logging.getLogger("enrollwire.graphql")

# Codes a client may see; anything else raised in a resolver is a bug and gets masked.
PUBLIC_CODES = frozenset({"UNAUTHENTICATED", "FORBIDDEN", "VALIDATION_FAILED", "NOT_FOUND", "BAD_REQUEST"})
MASKED_MESSAGE = "Internal server error."


def is_client_facing(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None:
        return True  # validation and parse errors, or a GraphQLError we raised on purpose
    code = (error.extensions or {}).get("code")
    return isinstance(original, GraphQLError) or code in PUBLIC_CODES


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


def formatted(error: GraphQLError) -> dict[str, Any]:
    """The error as a client may see it: our own failures keep only their place in the response."""
    if is_client_facing(error):
        return dict(error.formatted)
    masked = GraphQLError(MASKED_MESSAGE, error.nodes, error.source, error.positions, error.path)
    return dict(masked.formatted)
