"""Bounded HTTP requests: bodies refused with 413 before anything parses them, and with 408 when
they trickle in slower than BODY_TIMEOUT_SECONDS (uvicorn has no read timeout of its own: a client
sending a byte a minute would hold its connection and its buffer for ever)."""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BODY_TIMEOUT_SECONDS = 30.0


class BodyTooLarge(Exception):
    pass


class BodyTimedOut(Exception):
    pass


async def read_bounded(receive: Receive, limit: int, seconds: float = BODY_TIMEOUT_SECONDS) -> bytes:
    """The whole body; BodyTooLarge as soon as more than `limit` bytes arrived, BodyTimedOut when
    the whole body has not arrived within `seconds`."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    break
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise BodyTimedOut from None
    return b"".join(chunks)


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimit:
    """Buffers at most `limit` bytes of an HTTP body for the wrapped app, else answers 413.

    What the JSON decoder chokes on (too deep, not UTF-8, not an object) is a 400 from
    `GraphQLView.decode_json`, for HTTP and WebSocket alike."""

    def __init__(self, app: ASGIApp, limit: int, timeout: float = BODY_TIMEOUT_SECONDS) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        length = declared_length(scope)
        try:
            if length is not None and length > self.limit:
                raise BodyTooLarge
            body = await read_bounded(receive, self.limit, self.timeout)
        except BodyTooLarge:
            await too_large(send)
            return
        except BodyTimedOut:
            await refuse(
                send, 408, "REQUEST_TIMEOUT", f"the request body did not arrive within {self.timeout} s"
            )
            return
        await self.app(scope, replaying(body, receive), send)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that delivers the body already read, then whatever comes next (a disconnect)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def too_large(send: Send) -> None:
    await refuse(send, 413, "PAYLOAD_TOO_LARGE", "request body too large")


async def refuse(send: Send, status: int, code: str, message: str) -> None:
    error = {"message": message, "extensions": {"code": code}}
    body = json.dumps({"errors": [error]}, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
