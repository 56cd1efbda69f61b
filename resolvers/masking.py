"""What a client sees of our own failures: one generic message and the request id to quote."""

from __future__ import annotations

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from resolvers.errors import MASKED_MESSAGE, is_client_facing, masked


class MaskUnexpected(MaskErrors):
    """Masks every error that is not meant for clients; domain and auth errors keep their code.

    The request id is the one in the `X-Request-Id` response header and in the log line that holds
    the whole error, so a support request leads straight to it.
    """

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda e: not is_client_facing(e), error_message=MASKED_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return masked(error, getattr(self.execution_context.context, "request_id", "") or None)
