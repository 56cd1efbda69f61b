"""The Strawberry view: builds the typed context per request and authenticates WebSockets.

WebSocket close codes a client sees from us: 4403 when `connection_init` carries an invalid or
expired token, and again when an open socket's token reaches its `exp` (refresh the token and
reconnect); 4408 when no `connection_init` arrives within `connection_init_timeout_seconds`
(both subprotocols); 4400/4409/4429 for protocol misuse (Strawberry's). A handshake from an
`Origin` not allowed is refused with HTTP 403 before anything else runs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from api.auth import TokenPolicy, verify_token, viewer_from_header
from api.documents import DocumentRefused, Documents
from api.graphql_http import (
    JSON,
    as_graphql_response,
    cache_headers,
    is_request_error,
    request_error_status,
    status_for_codes,
    wants_graphql_response,
)
from api.legacy_ws import LegacyWSHandler
from api.state import runtime_of
from api.websocket_handlers import SocketAdapter, SocketContext, SocketTimer, TransportWSHandler
from domain.errors import AuthError
from resolvers.context import Context
from resolvers.loaders import Loaders
from server.logs import request_id
from server.settings import Settings

CLOSE_FORBIDDEN = 4403
CLOSE_INIT_TIMEOUT = 4408
MAX_SUBSCRIPTIONS_PER_CONNECTION = 50
# Legacy graphql-ws keepalive ("ka") period. graphql-transport-ws has no server keepalive
# message; uvicorn's WebSocket pings (ws_ping_interval, 20 s) keep those sockets alive.
KEEP_ALIVE_SECONDS = 15


class SocketGauge(Protocol):
    def socket_opened(self) -> None: ...
    def socket_closed(self) -> None: ...


def websocket_origins(settings: Settings) -> list[str]:
    """Origins whose pages may open a WebSocket besides same-origin ones (which Strawberry allows)."""
    if settings.allowed_origins:
        return list(settings.allowed_origins)
    own = urlsplit(settings.base_url)
    origins = [f"{own.scheme}://{own.netloc}"]
    if settings.dev_features:
        origins += [f"http://localhost:{settings.port}", f"http://127.0.0.1:{settings.port}"]
    return origins


class GraphQLView(GraphQL[Context, None]):
    websocket_adapter_class = SocketAdapter
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(
        self,
        schema: BaseSchema,
        *,
        tokens: TokenPolicy,
        graphiql: bool,
        max_page_size: int,
        allowed_origins: Sequence[str],
        connection_init_timeout: float,
        documents: Documents,
        sockets: SocketGauge | None = None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            keep_alive=True,
            keep_alive_interval=KEEP_ALIVE_SECONDS,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            connection_init_wait_timeout=timedelta(seconds=connection_init_timeout),
            max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
            allowed_origins=allowed_origins,
        )
        self._sockets = sockets
        self.documents = documents
        self._init_timeout = connection_init_timeout
        self._tokens = tokens
        self._max_page_size = max_page_size

    async def pick_websocket_subprotocol(self, request: WebSocket) -> str | None:
        # Our preference, not the client's order: a client offering both gets
        # graphql-transport-ws, whose shared feeds cost a tenth of the legacy per-socket execution.
        offered = request["subprotocols"]
        return next((protocol for protocol in self.websocket_subprotocols if protocol in offered), None)

    def decode_json(self, data: str | bytes) -> object:
        # Strawberry's HTTP and WebSocket handlers assume an object (batching is off): anything
        # else, or JSON nested too deep for the decoder, becomes an invalid message, not a crash.
        try:
            value = json.loads(data)
        except (RecursionError, UnicodeDecodeError) as error:
            raise json.JSONDecodeError(str(error), "", 0) from None
        if not isinstance(value, dict):
            raise json.JSONDecodeError("expected a JSON object", "", 0)
        return value

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        runtime = runtime_of(request)
        services = runtime.services
        context = (SocketContext if isinstance(request, WebSocket) else Context)(
            services=services,
            loaders=Loaders(services, cache=not isinstance(request, WebSocket)),
            request_id=request_id.get() or uuid.uuid4().hex,
            max_page_size=self._max_page_size,
            request=request,
            response=response if isinstance(response, Response) else None,
            realtime=runtime.hub,
            feeds=runtime.feeds,
        )
        if isinstance(request, Request):
            try:
                context.viewer = viewer_from_header(self._tokens, request.headers.get("authorization"))
            except AuthError as error:
                context.auth_error = error
        return context

    async def on_ws_connect(self, context: Context) -> dict[str, Any] | None:
        if isinstance(context, SocketContext):
            if context.initialised:  # both handlers refuse a second init before this; kept closed
                raise ConnectionRejectionError()
            context.initialised = True
        params = context.connection_params or {}
        header = params.get("Authorization", params.get("authorization"))
        if header is not None:
            if not isinstance(header, str):
                raise ConnectionRejectionError()
            token = header.removeprefix("Bearer ").removeprefix("bearer ").strip()
            try:
                context.viewer = verify_token(self._tokens, token)
            except AuthError:
                raise ConnectionRejectionError() from None
        if isinstance(context, SocketContext):
            # Only the token was needed: the socket would hold the rest for its whole life.
            context.connection_params = None
            context.connected()
        return None

    async def run(  # type: ignore[override]  # one body for both overloads
        self,
        request: Request | WebSocket,
        context: Context = UNSET,
        root_value: None = UNSET,
    ) -> Response | WebSocket:
        if not isinstance(request, WebSocket):
            return await self._run_http(request, context)
        own = await self.get_context(request, request)
        assert isinstance(own, SocketContext)
        timer = SocketTimer(request)
        if await self.pick_websocket_subprotocol(request) == GRAPHQL_WS_PROTOCOL:
            # Strawberry times out graphql-transport-ws itself; the legacy handler never does.
            timer.close_after(self._init_timeout, CLOSE_INIT_TIMEOUT, "Connection initialisation timeout")
        own.connected = lambda: timer.close_after(self._token_left(own), CLOSE_FORBIDDEN, "Token expired")
        if self._sockets is not None:
            self._sockets.socket_opened()
        try:
            return await super().run(request, own, root_value)
        finally:
            if self._sockets is not None:
                self._sockets.socket_closed()
            await timer.stop()

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # A GET naming its document by hash (no `query` parameter) is an operation, not a visit.
        return super().should_render_graphql_ide(request) and "extensions" not in request.query_params

    async def execute_operation(  # Strawberry's signature
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> Any:
        if isinstance(request_data, GraphQLRequestData):  # a list is a batch, refused further on
            resolved = self.documents.resolve(request_data.query, request_data.extensions)
            if isinstance(resolved.query, str):
                request_data.query = resolved.query
            request.state.resolved_document = resolved
        return await super().execute_operation(
            request, request_adapter, request_data, context, root_value, sub_response
        )

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        body = await super().process_result(request, result)
        request.state.ran_clean = not result.errors
        if result.errors and is_request_error(result) and wants_graphql_response(request):
            del body["data"]  # the spec: no `data` entry when the document did not run
            request.state.graphql_status = request_error_status(result.errors)
        return body

    async def _run_http(self, request: Request, context: Context) -> Response:
        spec = wants_graphql_response(request)
        try:
            response = await super().run(request, context)
        except DocumentRefused as refusal:
            status = status_for_codes({refusal.code}) if spec else 200
            response = JSONResponse({"errors": [refusal.as_error()]}, status_code=status)
        except HTTPException as error:
            if not spec:
                raise  # Strawberry's plain-text reason, as before
            # The spec's media type carries request errors as a GraphQL response without `data`;
            # a mutation over GET is 405, naming the method that may carry it.
            if isinstance(error.__cause__, InvalidOperationTypeError):
                error.status_code = 405
            response = JSONResponse({"errors": [{"message": error.reason}]}, status_code=error.status_code)
            if error.status_code == 405:
                response.headers["Allow"] = "POST"
        if not response.headers.get("content-type", "").startswith(JSON):
            return response  # GraphiQL's page
        if spec:
            as_graphql_response(response, getattr(request.state, "graphql_status", None))
        state = request.state
        resolved, clean = getattr(state, "resolved_document", None), getattr(state, "ran_clean", False)
        response.headers.update(cache_headers(request, response, resolved, clean))
        return response

    def _token_left(self, context: Context) -> float | None:
        viewer = context.viewer
        if viewer is None or viewer.expires_at is None:
            return None
        return (viewer.expires_at - context.services.clock.now()).total_seconds()
