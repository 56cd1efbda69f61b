"""A minimal GraphQL-over-WebSocket subscriber for the load generator.

The generator shares the machine with the server it measures: every microsecond it spends on a
frame is one the server cannot have, and a generator that falls behind backs the server's sockets
up, which inflates the server's own CPU per frame. So this is a bare `asyncio.Protocol` rather than
a WebSocket library: it does the opening handshake itself, finds frame boundaries in
`data_received`, and keeps each data message's bytes with the time they arrived; JSON is decoded
only when a scenario reads `arrivals`, after its measured window.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import struct
import time
from typing import Any, cast
from urllib.parse import urlsplit

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"  # each socket executes its own subscription: the comparison row

_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_MESSAGE = 2**20
_MAX_HANDSHAKE = 2**16
_CLOSE_TIMEOUT = 10.0
_OP_CONTINUATION, _OP_TEXT, _OP_CLOSE, _OP_PING, _OP_PONG = 0x0, 0x1, 0x8, 0x9, 0xA
_FIN = 0x80
_FIN_TEXT = _FIN | _OP_TEXT
_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")
# A data message's bytes up to its `payload`, e.g. `{"id":"1","type":"next",`, is the same in every
# data message of an operation: learnt from the first (decoded), it classifies the rest by a prefix
# test. Only a head that holds the `type` qualifies; a few per socket cover both servers' encodings.
_TYPE = re.compile(rb'"type"\s*:\s*"([a-z_]+)"')
_PAYLOAD_KEY = b'"payload"'
_MAX_HEADS = 4
_PONG = b'{"type":"pong"}'


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame: clients must mask (RFC 6455 §5.3); XOR as one big integer, not per byte."""
    n = len(payload)
    if n < 126:
        header = bytes((_FIN | opcode, 0x80 | n))
    elif n < 2**16:
        header = bytes((_FIN | opcode, 0x80 | 126)) + _U16.pack(n)
    else:
        header = bytes((_FIN | opcode, 0x80 | 127)) + _U64.pack(n)
    mask = os.urandom(4)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "little")
    masked = (int.from_bytes(payload, "little") ^ key).to_bytes(n, "little")
    return header + mask + masked


class Subscriber(asyncio.Protocol):
    def __init__(self, host: str, path: str, protocol: str) -> None:
        self.protocol = protocol
        # The data messages as they came: (time.perf_counter() on arrival, the text frame's bytes).
        self.frames: list[tuple[float, bytes]] = []
        self.arrived = asyncio.Event()
        self.others: list[dict[str, Any]] = []  # error/complete and other unexpected messages
        self.close_code: int | None = None
        self._decoded: list[tuple[float, dict[str, Any]]] = []
        self._transport: asyncio.Transport | None = None
        self._key = base64.b64encode(os.urandom(16))
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self._key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {protocol}\r\n\r\n"
        ).encode()
        self._handshake: bytearray | None = bytearray()
        self._buffer = b""
        self._fragments: list[bytes] | None = None
        self._data_heads: tuple[bytes, ...] = ()
        self._close_sent = False
        loop = asyncio.get_running_loop()
        self._upgraded: asyncio.Future[None] = loop.create_future()
        self._first: asyncio.Future[dict[str, Any]] = loop.create_future()  # connection_ack, or not
        self._closed: asyncio.Future[None] = loop.create_future()

    @classmethod
    async def open(
        cls,
        url: str,
        token: str,
        query: str,
        variables: dict[str, Any] | None = None,
        protocol: str = TRANSPORT_WS,
    ) -> Subscriber:
        parts = urlsplit(url)
        if parts.scheme != "ws" or parts.hostname is None:
            raise ValueError(f"only ws:// URLs: {url}")
        port = parts.port or 80
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        loop = asyncio.get_running_loop()
        _, subscriber = await loop.create_connection(
            lambda: cls(f"{parts.hostname}:{port}", path, protocol), parts.hostname, port
        )
        await subscriber._upgraded
        subscriber._send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        ack = await subscriber._first
        if ack.get("type") != "connection_ack":
            subscriber._abort()
            raise RuntimeError(f"no ack: {ack}")
        if query:
            await subscriber.subscribe(query, variables)
        return subscriber

    async def subscribe(
        self, query: str, variables: dict[str, Any] | None = None, protocol: str | None = None
    ) -> None:
        start = "subscribe" if (protocol or self.protocol) == TRANSPORT_WS else "start"
        payload = {"query": query, "variables": variables or {}}
        self._send_json({"id": "1", "type": start, "payload": payload})

    @property
    def received(self) -> int:
        """How many data messages arrived: the cheap count to wait on while measuring."""
        return len(self.frames)

    @property
    def arrivals(self) -> list[tuple[float, dict[str, Any]]]:
        """(arrival time, `payload.data`) per data message, decoded on first read rather than on arrival."""
        decoded = self._decoded
        for at, raw in self.frames[len(decoded) :]:
            decoded.append((at, json.loads(raw)["payload"]["data"]))
        return decoded

    async def run(self) -> None:
        """Until the socket closes; frames are read whether or not this runs."""
        await asyncio.shield(self._closed)  # cancelling the reader must not cancel the shared future

    async def close(self) -> None:
        if self._transport is not None and not self._closed.done():
            self._send_close(1000)
            try:
                async with asyncio.timeout(_CLOSE_TIMEOUT):
                    await asyncio.shield(self._closed)
            except TimeoutError:
                self._abort()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        lost = ConnectionError(f"closed (code {self.close_code}) before it was acknowledged: {exc}")
        for future in (self._upgraded, self._first):
            if not future.done():
                future.set_exception(lost)
                future.exception()  # retrieved: `open` may be gone already, which is no error
        if not self._closed.done():
            self._closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self._handshake is not None:
            data = self._read_handshake(data)
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        now = time.perf_counter()  # one clock read per read(): the frames in it arrived together
        frames = self.frames
        count = len(frames)
        pos, end = 0, len(data)
        while end - pos >= 2:
            first, length = data[pos], data[pos + 1]
            if length < 126:
                start = pos + 2
            elif length == 126:
                if end - pos < 4:
                    break
                length = _U16.unpack_from(data, pos + 2)[0]
                start = pos + 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = _U64.unpack_from(data, pos + 2)[0]
                start = pos + 10
            else:
                self._fail("a masked server frame")
                return
            if length > _MAX_MESSAGE:
                self._fail(f"a {length}-byte frame")
                return
            stop = start + length
            if stop > end:
                break
            pos = stop
            if first == _FIN_TEXT:  # the hot path, inlined: a whole data message
                message = data[start:stop]
                if message.startswith(self._data_heads):
                    frames.append((now, message))
                else:
                    self._message(now, message)
            elif not self._other_frame(now, first, data[start:stop]):
                return
        if pos < end:
            self._buffer = data[pos:]
        if len(frames) != count:
            self.arrived.set()

    # internals

    def _text(self, now: float, message: bytes) -> None:
        if message.startswith(self._data_heads):
            self.frames.append((now, message))
        else:
            self._message(now, message)

    def _message(self, now: float, raw: bytes) -> None:
        """A message no learnt head classifies: rare, so decoded."""
        try:
            message = json.loads(raw)
        except ValueError:
            self.others.append({"undecodable": raw.decode(errors="replace")})
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind in ("next", "data"):
            self.frames.append((now, raw))
            head = raw.find(_PAYLOAD_KEY)
            found = _TYPE.search(raw, 0, head) if head > 0 else None
            if found is not None and found[1] == kind.encode() and len(self._data_heads) < _MAX_HEADS:
                self._data_heads += (raw[:head],)
        elif kind == "ping":
            self._send(_OP_TEXT, _PONG)
        elif kind in ("ka", "pong"):
            pass
        elif not self._first.done():
            self._first.set_result(message)
        else:
            self.others.append(message)

    def _other_frame(self, now: float, first: int, payload: bytes) -> bool:
        """Every frame but a whole text message; False once the connection is failed."""
        opcode = first & 0x0F
        if first & 0x70:
            self._fail("reserved bits set without an extension")
            return False
        if opcode == _OP_PING:
            self._send(_OP_PONG, payload)
        elif opcode == _OP_CLOSE:
            self.close_code = _U16.unpack_from(payload)[0] if len(payload) >= 2 else 1005
            # Echo the close; the server then closes the TCP connection (RFC 6455 §7.1.1).
            self._send_close(self.close_code if self.close_code not in (1005, 1006) else 1000)
        elif opcode == _OP_TEXT and self._fragments is None:
            self._fragments = [payload]
        elif opcode == _OP_CONTINUATION and self._fragments is not None:
            self._fragments.append(payload)
            if first & _FIN:
                message, self._fragments = b"".join(self._fragments), None
                self._text(now, message)
        elif opcode != _OP_PONG:
            self._fail(f"an unexpected frame (opcode {opcode:#x})")
            return False
        return True

    def _read_handshake(self, data: bytes) -> bytes:
        """Buffers the HTTP response to the upgrade; returns the bytes after it (frames)."""
        assert self._handshake is not None
        self._handshake += data
        end = self._handshake.find(b"\r\n\r\n")
        if end < 0:
            if len(self._handshake) > _MAX_HANDSHAKE:
                self._refuse("an oversized handshake response")
            return b""
        head, rest = self._handshake[:end].decode("latin-1"), bytes(self._handshake[end + 4 :])
        self._handshake = None
        status, *lines = head.split("\r\n")
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        accept = base64.b64encode(hashlib.sha1(self._key + _ACCEPT_GUID).digest()).decode()
        if status.split(" ", 2)[1:2] != ["101"]:
            self._refuse(f"the upgrade was refused: {status}")
        elif (
            headers.get("sec-websocket-accept") != accept or headers.get("upgrade", "").lower() != "websocket"
        ):
            self._refuse(f"a bad upgrade response: {head!r}")
        elif headers.get("sec-websocket-protocol") != self.protocol:
            self._refuse(f"subprotocol {headers.get('sec-websocket-protocol')!r}, not {self.protocol!r}")
        elif "sec-websocket-extensions" in headers:
            self._refuse(f"extensions not asked for: {headers['sec-websocket-extensions']}")
        else:
            self._upgraded.set_result(None)
            return rest
        return b""

    def _refuse(self, reason: str) -> None:
        if not self._upgraded.done():
            self._upgraded.set_exception(ConnectionError(reason))
        self._abort()

    def _fail(self, reason: str) -> None:
        self.others.append({"protocol_error": reason})
        self._buffer = b""
        self._abort()

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _send(self, opcode: int, payload: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing() and not self._close_sent:
            self._transport.write(_client_frame(opcode, payload))

    def _send_json(self, message: dict[str, Any]) -> None:
        self._send(_OP_TEXT, json.dumps(message).encode())

    def _send_close(self, code: int) -> None:
        self._send(_OP_CLOSE, _U16.pack(code))
        self._close_sent = True
