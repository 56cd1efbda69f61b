"""The limits applied where requests come in, before Strawberry sees them (`api.rate_limits` counts).

HTTP `/graphql` (inside `BodyLimit`, so the body is already bounded): a bad token counts against
`auth_failures` per IP; every request against `graphql`, per user or per IP when anonymous; a
mutation selecting `enroll` or `retryPayment` against `enroll`, per user, once per such field.
Over a limit: 429, `Retry-After`, and the GraphQL error `RATE_LIMITED` with `retryAfter`.

WebSocket `/graphql`: every handshake counts against `ws_handshakes` per IP; the first
`connection_init` is read on its way in: a bad token counts against `auth_failures`, a good one
takes one of the user's `ws_sockets_per_user` slots until the socket ends. Over a limit: the
socket is accepted and closed at once with 4429 (a refused handshake would show the client only
a failed connection, not why).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable, Sequence

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
)
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import TokenPolicy, verify_token, viewer_from_header
from api.client_ip import Network, client_ip
from api.documents import DocumentRefused, Documents
from api.limits import replaying
from api.rate_limit_rules import Rule
from api.rate_limits import RateLimiter
from domain.errors import AuthError
from domain.viewer import Viewer

CLOSE_RATE_LIMITED = 4429
ENROLL_FIELDS = frozenset({"enroll", "retryPayment"})
# Parsing here only looks for the fields above: a document too big for this is refused later anyway.
MAX_PARSE_TOKENS = 10_000
SUBPROTOCOLS = ("graphql-transport-ws", "graphql-ws")


def retry_after(seconds: float) -> int:
    return max(1, math.ceil(seconds))


def rate_limited_error(seconds: float) -> dict[str, object]:
    return {
        "message": f"Too many requests: retry after {retry_after(seconds)} s",
        "extensions": {"code": "RATE_LIMITED", "retryAfter": retry_after(seconds)},
    }


async def too_many(send: Send, seconds: float, body: object) -> None:
    data = json.dumps(body, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"retry-after", str(retry_after(seconds)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _fields(selection: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode]) -> int:
    """How many of ENROLL_FIELDS the top level selects, through fragments (each fragment once)."""
    count = 0
    pending = [selection]
    seen: set[str] = set()
    while pending:
        current = pending.pop()
        for node in current.selections if current is not None else ():
            if isinstance(node, FieldNode):
                count += node.name.value in ENROLL_FIELDS
            elif isinstance(node, InlineFragmentNode):
                pending.append(node.selection_set)
            elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
                seen.add(node.name.value)
                fragment = fragments.get(node.name.value)
                pending.append(fragment.selection_set if fragment is not None else None)
    return count


def enroll_fields(body: bytes, documents: Documents | None = None) -> int:
    """The `enroll`/`retryPayment` fields the request's mutation selects; 0 for anything else,
    including a body Strawberry will refuse (it answers that itself). A persisted query's hash
    is looked up in `documents` first, so sending the hash alone counts the same."""
    by_hash = documents is not None and b"persistedQuery" in body
    if not by_hash and b"enroll" not in body and b"retryPayment" not in body:
        return 0
    try:
        request = json.loads(body)
        query: object = request.get("query")
        if documents is not None and by_hash:
            query = documents.resolve(query, request.get("extensions")).query
        name = request.get("operationName")
        document: DocumentNode = parse(str(query), no_location=True, max_tokens=MAX_PARSE_TOKENS)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError, GraphQLError, DocumentRefused):
        return 0
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == name]
    if len(operations) != 1 or operations[0].operation is not OperationType.MUTATION:
        return 0
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    return _fields(operations[0].selection_set, fragments)


def bad_signature_limit(
    limiter: RateLimiter, proxies: Sequence[Network]
) -> Callable[[Request], Awaitable[float | None]]:
    """For the webhooks: counts a delivery whose signature failed against `webhook_bad_signature`
    per IP. Only deliveries already refused count, so a valid signed one is never limited."""

    async def hit(request: Request) -> float | None:
        return await limiter.hit(Rule.WEBHOOK_BAD_SIGNATURE, f"ip:{client_ip(request.scope, proxies)}")

    return hit


class EdgeLimits:
    """Wraps the GraphQL view's ASGI app (HTTP and WebSocket)."""

    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        tokens: TokenPolicy,
        proxies: Sequence[Network],
        documents: Documents | None = None,
    ) -> None:
        self.app = app
        self.documents = documents  # persisted queries: what a hash names
        self.limiter = limiter
        self.tokens = tokens
        self.proxies = tuple(proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.limiter.rules.enabled:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        ip = client_ip(scope, self.proxies)
        viewer: Viewer | None = None
        try:
            viewer = viewer_from_header(self.tokens, _header(scope, b"authorization"))
        except AuthError:
            if (wait := await self.limiter.hit(Rule.AUTH_FAILURES, f"ip:{ip}")) is not None:
                await too_many(send, wait, {"errors": [rate_limited_error(wait)]})
                return
        who = f"user:{viewer.user_id}" if viewer is not None else f"ip:{ip}"
        if (wait := await self.limiter.hit(Rule.GRAPHQL, who)) is not None:
            await too_many(send, wait, {"errors": [rate_limited_error(wait)]})
            return
        if viewer is not None and scope["method"] == "POST":
            body = await _read(receive)
            cost = enroll_fields(body, self.documents)
            if cost and (wait := await self.limiter.hit(Rule.ENROLL, who, cost)) is not None:
                await too_many(send, wait, {"errors": [rate_limited_error(wait)]})
                return
            receive = replaying(body, receive)
        await self.app(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        ip = client_ip(scope, self.proxies)
        if (wait := await self.limiter.hit(Rule.WS_HANDSHAKES, f"ip:{ip}")) is not None:
            await _accept_and_close(
                scope, receive, send, f"Too many connections: retry after {retry_after(wait)} s"
            )
            return
        gate = _SocketGate(self, ip, receive, send)
        try:
            await self.app(scope, gate.receive, gate.send)
        finally:
            # Shielded: a shutdown cancelling this task must not leave the user's slot counted.
            await asyncio.shield(gate.release())


async def _read(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            return b"".join(chunks)


async def _accept_and_close(scope: Scope, receive: Receive, send: Send, reason: str) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    offered = scope.get("subprotocols", ())
    subprotocol = next((p for p in SUBPROTOCOLS if p in offered), None)
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    await send({"type": "websocket.close", "code": CLOSE_RATE_LIMITED, "reason": reason})


class _SocketGate:
    """Reads the socket's first `connection_init` as it passes; closes it with 4429 when the token
    is bad once too often from this IP, or the user already has every socket slot."""

    def __init__(self, edge: EdgeLimits, ip: str, receive: Receive, send: Send) -> None:
        self._edge, self._ip, self._receive, self._send = edge, ip, receive, send
        self._checked = False
        self._closed = False
        self._slot: tuple[str, str] | None = None

    async def send(self, message: Message) -> None:
        if not self._closed:  # the app may still answer what it read before the gate closed
            await self._send(message)

    async def receive(self) -> Message:
        message = await self._receive()
        if self._checked or message["type"] != "websocket.receive":
            return message
        try:
            doc = json.loads(message.get("text") or message.get("bytes") or b"")
        except (ValueError, RecursionError):
            return message
        if not isinstance(doc, dict) or doc.get("type") != "connection_init":
            return message
        self._checked = True
        refusal = await self._admit(doc.get("payload"))
        if refusal is None:
            return message
        self._closed = True
        await self._send({"type": "websocket.close", "code": CLOSE_RATE_LIMITED, "reason": refusal})
        return {"type": "websocket.disconnect", "code": CLOSE_RATE_LIMITED}

    async def _admit(self, payload: object) -> str | None:
        """None to let the socket on; else the close reason."""
        header = (
            payload.get("Authorization", payload.get("authorization")) if isinstance(payload, dict) else None
        )
        if header is None:
            return None
        edge = self._edge
        try:
            if not isinstance(header, str):
                raise AuthError("UNAUTHENTICATED", "invalid token")
            viewer = verify_token(edge.tokens, header.removeprefix("Bearer ").removeprefix("bearer ").strip())
        except AuthError:
            wait = await edge.limiter.hit(Rule.AUTH_FAILURES, f"ip:{self._ip}")
            return None if wait is None else f"Too many failed sign-ins: retry after {retry_after(wait)} s"
        if viewer.expires_at is None:
            return None
        sockets = edge.limiter.sockets
        slot = await sockets.acquire(viewer.user_id, viewer.expires_at.timestamp())
        if slot is None:
            edge.limiter.count_limited(Rule.WS_SOCKETS_PER_USER)
            return f"Too many open connections (at most {sockets.limit} per user)"
        self._slot = (viewer.user_id, slot)
        return None

    async def release(self) -> None:
        if self._slot is not None:
            await self._edge.limiter.sockets.release(*self._slot)
