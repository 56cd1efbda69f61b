"""Bounded HTTP requests: bodies refused with 413 before anything parses them, JSON nested too
deeply or not UTF-8 refused with 400; and the WebSocket limits every uvicorn serving the app uses."""

from __future__ import annotations

import json
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.websocket_protocol import LeanWebSocketProtocol

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


class BodyTooLarge(Exception):
    pass


async def read_bounded(receive: Receive, limit: int) -> bytes:
    """The whole body, or BodyTooLarge as soon as more than `limit` bytes arrived."""
    chunks: list[bytes] = []
    size = 0
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
    return b"".join(chunks)


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"application/json" in value.lower()
    return False


class BodyLimit:
    """Buffers at most `limit` bytes of an HTTP body for the wrapped app, else answers 413; a JSON
    body must also be an object (or a batch list) to be passed on."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        length = declared_length(scope)
        try:
            if length is not None and length > self.limit:
                raise BodyTooLarge
            body = await read_bounded(receive, self.limit)
        except BodyTooLarge:
            await too_large(send)
            return
        if is_json(scope) and body.lstrip(b" \t\r\n")[:1] not in (b"{", b"["):
            # Strawberry reads a JSON null, number or string body as an object and fails with a 500.
            await refuse(send, 400, "BAD_REQUEST", "request body must be a JSON object")
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class RefuseUndecodable:
    """Answers 400 for a body or `variables` that the JSON decoder fails on with something other
    than the JSONDecodeError Strawberry expects (and answers 400 for) itself.

    `json.loads` recurses once per level, so a few thousand brackets raise RecursionError, and bytes
    that are not UTF-8 (or UTF-16/32 by their first bytes) raise UnicodeDecodeError: both escaped
    as 500s, for what is the client's mistake.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except (RecursionError, UnicodeDecodeError) as error:
            if started:
                raise
            problem = "nested too deeply" if isinstance(error, RecursionError) else "not UTF-8"
            await refuse(send, 400, "BAD_REQUEST", f"request JSON is {problem}")


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
