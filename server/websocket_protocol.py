"""uvicorn's sans-I/O WebSocket protocol, minus what an idle socket need not keep, plus a fast send.

Most of a realtime server's memory is idle sockets. uvicorn's protocol keeps, for a socket's
whole life, the handshake's request and response (their headers parsed twice) and an
`asyncio.Queue` and `asyncio.Event` whose deques allocate a block of 64 slots each: about 7 KiB
per socket for a queue that holds one message at a time. This subclass lets the handshake go
once it is answered and uses a list-backed queue and flag with the same behaviour.

It also offers, as the ASGI scope extension `FAST_SEND` (`realtime.feeds.socket.FastSend`), a
way to write one text frame at once: a shared feed writes the same event to thousands of
sockets, and the ASGI path (Starlette's state checks, its exception wrapper, uvicorn's send, the
websockets library's framing) is most of what a frame costs. The fast send frames the text
itself and declines (None) whenever the socket is not open and writable, so the caller falls
back to the ASGI send, which knows why.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any, Final, Generic, TypeVar

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from realtime.feeds.socket import FAST_SEND

T = TypeVar("T")

_FIN_TEXT = 0x81  # FIN, opcode 1; no RSV bits: per-message deflate is off (api.limits)


def text_frame(payload: bytes) -> bytes:
    """A whole, unmasked text frame, as a server sends it (RFC 6455, 5.2)."""
    size = len(payload)
    if size < 126:
        header = bytes((_FIN_TEXT, size))
    elif size < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, 126, size)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, size)
    return header + payload


class ReceiveQueue(Generic[T]):
    """An unbounded FIFO with one consumer: what uvicorn's protocol asks of its `asyncio.Queue`."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[T] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> T:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items


class Flag:
    """`asyncio.Event`'s set/clear/wait, without a deque per instance."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True  # without suspending: a socket write that need not wait stays eager
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = ReceiveQueue()  # type: ignore[assignment]
        writable = Flag()
        writable.set()
        self.writable = writable  # type: ignore[assignment]

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        self.request = None  # type: ignore[assignment]  # the ASGI scope has what the app reads
        scope = getattr(self, "scope", None)  # none when the handshake was refused
        if scope is not None and not self.config.ws_per_message_deflate:
            scope["extensions"][FAST_SEND] = self.send_text_now

    def send_text_now(self, text: str) -> bool | None:
        """Writes one text frame now; None when the socket is not open and writable."""
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or not self.writable.is_set()
            or self.transport.is_closing()
        ):
            return None
        self.transport.write(text_frame(text.encode()))
        return True

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept":
            self.response = None  # type: ignore[assignment]  # written: nothing reads it again


# uvicorn accepts 16 MiB WebSocket messages by default; the largest message a client has reason to
# send is a subscribe (a document within the token limit, and its variables): a few KiB.
WS_MAX_MESSAGE_BYTES: Final = 64 * 1024
# Per-message deflate roughly triples a subscribed socket's memory (~55 to ~150 KiB measured) to
# shrink frames of a few hundred bytes: off.
UVICORN_WEBSOCKET_OPTIONS: Final[dict[str, Any]] = {
    "ws": LeanWebSocketProtocol,
    "ws_max_size": WS_MAX_MESSAGE_BYTES,
    "ws_per_message_deflate": False,
}
