"""The WebSocket protocol handlers: Strawberry's, with shared feeds and stricter message checks.

Close codes they add to Strawberry's are listed in `api.graphql_view`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)

from api.documents import resolve_operation
from api.legacy_ws import well_formed
from realtime.feeds.member import Member
from realtime.feeds.socket import FAST_SEND, FastSend, Sink, current_sink
from resolvers.context import Context


class SocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's WebSocket adapter, except that a frame for a client that has just gone is
    dropped rather than raised.

    Raised, it reaches the protocol handler's operation task. The legacy handler then drops the
    operation's event stream unclosed (its hub subscription lives on until garbage collection) and
    logs "Task exception was never retrieved"; graphql-transport-ws logs "Exception in worker
    task". Both at ERROR, for a client leaving. The socket's own loop sees the close next and
    ends every operation, as for any other close.
    """

    async def send_json(self, message: Mapping[str, object]) -> None:
        with contextlib.suppress(WebSocketDisconnected):
            await super().send_json(message)


def _handed_over(operation_id: str) -> bool:
    """Strawberry is ending this operation's task, which handed the operation to a feed member."""
    sink = current_sink.get()
    return sink is not None and sink.operation_id == operation_id and sink.detached


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Lets event-stream resolvers hand their operations to shared feeds (`realtime.feeds`).

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
        operation_id = message.get("id")
        if self.connection_acknowledged and isinstance(payload, dict) and isinstance(operation_id, str):
            refusal = resolve_operation(self.view, cast("dict[str, Any]", payload))
            if refusal is not None:
                error = cast("Any", [refusal.as_error()])
                await self.send_message({"id": operation_id, "type": "error", "payload": error})
                return
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


async def _close(socket: WebSocket, code: int, reason: str) -> None:
    if socket.application_state is WebSocketState.CONNECTED:
        # The protocol handler may be closing it at the same moment (client gone, bad message).
        with contextlib.suppress(RuntimeError, OSError):
            await socket.close(code, reason)
