"""The Strawberry view: builds the typed context per request and authenticates WebSockets."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from api.auth import verify_token, viewer_from_header
from api.logs import request_id
from domain.errors import AuthError
from domain.services import Services
from resolvers.context import Context
from resolvers.loaders import Loaders


class GraphQLView(GraphQL[Context, None]):
    def __init__(
        self,
        schema: BaseSchema,
        services: Callable[[], Services],
        *,
        auth_secret: str,
        graphiql: bool,
        max_page_size: int,
        allowed_origins: Sequence[str],
        connection_init_timeout: float,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            keep_alive=True,
            keep_alive_interval=15,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            connection_init_wait_timeout=timedelta(seconds=connection_init_timeout),
            max_subscriptions_per_connection=50,
            allowed_origins=allowed_origins,
        )
        self._services = services
        self._secret = auth_secret
        self._max_page_size = max_page_size

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        services = self._services()
        context = Context(
            services=services,
            loaders=Loaders(services),
            request_id=request_id.get() or uuid.uuid4().hex,
            max_page_size=self._max_page_size,
            request=request,
            response=response if isinstance(response, Response) else None,
        )
        if isinstance(request, Request):
            try:
                context.viewer = viewer_from_header(self._secret, request.headers.get("authorization"))
            except AuthError as error:
                context.auth_error = error
        return context

    async def on_ws_connect(self, context: Context) -> dict[str, Any] | None:
        params = context.connection_params or {}
        header = params.get("Authorization", params.get("authorization"))
        if header is None:
            return None
        if not isinstance(header, str):
            raise ConnectionRejectionError()
        token = header.removeprefix("Bearer ").removeprefix("bearer ").strip()
        try:
            context.viewer = verify_token(self._secret, token)
        except AuthError:
            raise ConnectionRejectionError() from None
        return None
