"""The Strawberry view: builds the typed context per request and authenticates WebSockets.

WebSocket close codes a client sees from us: 4403 when `connection_init` carries an invalid or
expired token, and again when an open socket's token reaches its `exp` (refresh the token and
reconnect); 4408 when no `connection_init` arrives within `connection_init_timeout_seconds`
(both subprotocols); 4400/4409/4429 for protocol misuse (Strawberry's). A handshake from an
`Origin` not allowed is refused with HTTP 403 before anything else runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)
from strawberry.types.unset import UNSET

from api.auth import TokenPolicy, verify_token, viewer_from_header
from api.legacy_ws import LegacyWSHandler, well_formed
from api.logs import request_id
from api.settings import Settings
from api.websocket_protocol import FAST_SEND, FastSend
from domain.errors import AuthError
from domain.services import Services
from realtime.hub import Hub
from resolvers.context import Context
from resolvers.feeds import Feeds, Member, Sink, current_sink
from resolvers.loaders import Loaders

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


def _handed_over(operation_id: str) -> bool:
    """Strawberry is ending this operation's task, which handed the operation to a feed member."""
    sink = current_sink.get()
    return sink is not None and sink.operation_id == operation_id and sink.detached


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Lets event-stream resolvers hand their operations to shared feeds (`resolvers.feeds`).

    A detached operation keeps its id here (a `complete` from the client ends it, the id cannot
    be reused while it runs, it counts towards the per-connection limit), but no task: its
    member writes its frames, and its own `complete` when the server ends it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.members: dict[str, Member] = {}
        # Looked up once per socket, not once per frame.
        socket = self.websocket
        scope = socket.ws.scope if isinstance(socket, ASGIWebSocketAdapter) else {}
        self._fast: FastSend | None = scope.get("extensions", {}).get(FAST_SEND)

    def attach(self, operation_id: str, member: Member) -> None:
        self.members[operation_id] = member

    def release(self, operation_id: str, member: Member) -> None:
        if self.members.get(operation_id) is member:
            del self.members[operation_id]
            self.operations.pop(operation_id, None)

    def forget_id(self, id: str) -> None:
        if _handed_over(id):
            # The operation's task ends here, the operation does not: its member releases it.
            # Nor does it need its task or its text any more (the feed keeps the document).
            operation = self.operations.get(id)
            if operation is not None:
                operation.task, operation.query, operation.variables = None, "", None
            return
        self.operations.pop(id, None)

    async def send_message(self, message: Message) -> None:
        if message["type"] == "complete" and _handed_over(message["id"]):
            return
        await super().send_message(message)

    async def cleanup_operation(self, operation_id: str) -> None:
        member = self.members.pop(operation_id, None)
        if member is None:
            await super().cleanup_operation(operation_id)
            return
        member.leave()
        operation = self.operations.pop(operation_id, None)
        if operation is not None and operation.task is not None:  # still handing over
            operation.task.cancel()

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged:
            self.connection_init_timeout_task = None  # cancelled: the socket need not keep it

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload = message.get("payload")
        if not well_formed(message.get("id"), payload):
            # Strawberry's handler would die on it and drop the socket without a close code.
            await self.handle_invalid_message("Invalid subscribe message")
            return
        assert isinstance(payload, dict)
        variables = payload.get("variables")
        name = payload.get("operationName")
        sink = Sink(
            operation_id=message["id"],
            query=payload["query"],
            variables=variables if isinstance(variables, dict) else None,
            operation_name=name if isinstance(name, str) else None,
            send_text=self._send_text,
            operations=self,
        )
        token = current_sink.set(sink)  # the operation's task, created inside, inherits it
        try:
            await super().handle_subscribe(message)
        finally:
            current_sink.reset(token)

    async def _send_text(self, text: str) -> bool:
        socket = self.websocket
        assert isinstance(socket, ASGIWebSocketAdapter)
        if self._fast is not None and (sent := self._fast(text)) is not None:
            return sent
        try:
            await socket.ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return False
        return True


def _nothing() -> None:
    pass


@dataclass
class SocketContext(Context):
    """A WebSocket's context: `on_ws_connect` calls `connected` once `connection_init` is handled."""

    connected: Callable[[], None] = _nothing
    # The viewer and its expiry are fixed by the first connection_init, for every operation after.
    initialised: bool = False


class SocketTimer:
    """Closes a socket at a deadline: the legacy protocol's init timeout, then the token's expiry.

    A timer handle rather than a task per socket: idle sockets are most of a server's memory.
    """

    __slots__ = ("_closing", "_handle", "_socket")

    def __init__(self, socket: WebSocket) -> None:
        self._socket = socket
        self._handle: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None

    def close_after(self, seconds: float | None, code: int, reason: str) -> None:
        """Replaces the deadline; None: no deadline."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if seconds is not None:
            loop = asyncio.get_running_loop()
            self._handle = loop.call_later(max(0.0, seconds), self._close, code, reason)

    def _close(self, code: int, reason: str) -> None:
        self._handle = None
        self._closing = asyncio.create_task(_close(self._socket, code, reason))

    async def stop(self) -> None:
        self.close_after(None, 0, "")
        if self._closing is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._closing


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(
        self,
        schema: BaseSchema,
        services: Callable[[], Services],
        *,
        tokens: TokenPolicy,
        graphiql: bool,
        max_page_size: int,
        allowed_origins: Sequence[str],
        connection_init_timeout: float,
        hub: Callable[[], Hub] | None = None,
        feeds: Callable[[], Feeds] | None = None,
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
        self._services = services
        self._hub = hub
        self._feeds = feeds
        self._sockets = sockets
        self._init_timeout = connection_init_timeout
        self._tokens = tokens
        self._max_page_size = max_page_size

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
        services = self._services()
        context = (SocketContext if isinstance(request, WebSocket) else Context)(
            services=services,
            loaders=Loaders(services, cache=not isinstance(request, WebSocket)),
            request_id=request_id.get() or uuid.uuid4().hex,
            max_page_size=self._max_page_size,
            request=request,
            response=response if isinstance(response, Response) else None,
            realtime=None if self._hub is None else self._hub(),
            feeds=None if self._feeds is None else self._feeds(),
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
            return await super().run(request, context, root_value)
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

    def _token_left(self, context: Context) -> float | None:
        viewer = context.viewer
        if viewer is None or viewer.expires_at is None:
            return None
        return (viewer.expires_at - self._services().clock.now()).total_seconds()


async def _close(socket: WebSocket, code: int, reason: str) -> None:
    if socket.application_state is WebSocketState.CONNECTED:
        # The protocol handler may be closing it at the same moment (client gone, bad message).
        with contextlib.suppress(RuntimeError, OSError):
            await socket.close(code, reason)
