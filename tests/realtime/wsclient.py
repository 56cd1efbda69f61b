"""A tiny GraphQL-over-WebSocket client for tests: graphql-transport-ws and legacy graphql-ws.

It speaks the raw protocol (as Strawberry's own tests do), so close codes and message types
are asserted exactly as a browser client would see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin, Subprotocol

from domain.viewer import Role
from tests.servers import GraphQLClient, RunningApp

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
PROTOCOLS = (TRANSPORT_WS, LEGACY_WS)

Message = dict[str, Any]

# Per protocol: (subscribe, unsubscribe, data, error, complete, keepalive-like) message types.
_TYPES = {
    TRANSPORT_WS: ("subscribe", "complete", "next", "error", "complete"),
    LEGACY_WS: ("start", "stop", "data", "error", "complete"),
}


class WsClient:
    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol
        self._subscribe, self._stop, self._data, self._error, self._complete = _TYPES[protocol]
        self._ids = itertools.count(1)
        self._inbox: dict[str | None, deque[Message]] = defaultdict(deque)

    async def init(self, token: str | None = None, within: float = 5.0) -> Message:
        payload = {} if token is None else {"Authorization": f"Bearer {token}"}
        await self.send({"type": "connection_init", "payload": payload})
        return await self.next_message(None, within)

    async def send(self, message: Message) -> None:
        await self.ws.send(json.dumps(message))

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        op = str(next(self._ids))
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": op, "type": self._subscribe, "payload": payload})
        return op

    async def unsubscribe(self, op: str) -> None:
        await self.send({"id": op, "type": self._stop})

    async def next_message(self, op: str | None, within: float = 5.0) -> Message:
        """The next message for `op` (None: connection-level), keeping others for later."""
        async with asyncio.timeout(within):
            while not self._inbox[op]:
                raw = await self.ws.recv()
                message: Message = json.loads(raw)
                kind = message.get("type")
                if kind in ("ka", "pong"):
                    continue
                if kind == "ping":
                    await self.send({"type": "pong"})
                    continue
                self._inbox[message.get("id")].append(message)
            return self._inbox[op].popleft()

    async def ping(self, within: float = 5.0) -> Message:
        """graphql-transport-ws only: a round trip proving the connection still serves."""
        await self.send({"type": "ping"})
        async with asyncio.timeout(within):
            while True:
                message: Message = json.loads(await self.ws.recv())
                if message.get("type") == "pong":
                    return message
                self._inbox[message.get("id")].append(message)

    async def next_data(self, op: str, within: float = 5.0) -> dict[str, Any]:
        """The `data` of the next result of `op`; fails on an error or completion."""
        message = await self.next_message(op, within)
        assert message["type"] == self._data, message
        assert "errors" not in message["payload"], message
        data: dict[str, Any] = message["payload"]["data"]
        return data

    async def next_errors(self, op: str, within: float = 5.0) -> list[dict[str, Any]]:
        """The GraphQL errors that end `op`, whichever way the protocol carries them."""
        message = await self.next_message(op, within)
        if message["type"] == self._error:
            payload = message["payload"]
            return payload if isinstance(payload, list) else [payload]
        assert message["type"] == self._data and message["payload"].get("errors"), message
        errors: list[dict[str, Any]] = message["payload"]["errors"]
        assert (await self.next_message(op, within))["type"] == self._complete
        return errors

    async def close_code(self, within: float = 10.0) -> int | None:
        """Wait for the server to close the socket; its close code."""
        async with asyncio.timeout(within):
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await self.ws.recv()
        return self.ws.close_code


@contextlib.asynccontextmanager
async def ws_connect(
    url: str, protocol: str = TRANSPORT_WS, origin: str | None = None, receive_buffer: int | None = None
) -> AsyncIterator[WsClient]:
    """`receive_buffer` shrinks the kernel's receive buffer, so a client that stops reading
    pushes back on the server after kilobytes rather than megabytes."""
    options: dict[str, Any] = {}
    if receive_buffer is not None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        parts = urlsplit(url)
        await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
        options = {"sock": sock, "max_queue": 1}
    async with connect(
        url,
        subprotocols=[Subprotocol(protocol)],
        origin=None if origin is None else Origin(origin),
        compression=None,
        proxy=None,
        open_timeout=10,
        close_timeout=2,
        **options,
    ) as ws:
        assert ws.subprotocol == protocol
        yield WsClient(ws, protocol)


@contextlib.asynccontextmanager
async def signed_in(
    url: str, token: str | None, protocol: str = TRANSPORT_WS, origin: str | None = None
) -> AsyncIterator[WsClient]:
    """A connected, acknowledged client."""
    async with ws_connect(url, protocol, origin) as client:
        ack = await client.init(token)
        assert ack["type"] == "connection_ack", ack
        yield client


COURSE_CARD = """
subscription($courseId: ID!, $since: Int) {
  courseCard(courseId: $courseId, sinceVersion: $since) {
    buttonText action disabled hasAccess version enrollment { id status userId }
  }
}
"""
EVENT_FIELDS = "type previousStatus at enrollment { id userId status version }"
MY_UPDATES = f"subscription {{ myEnrollmentUpdates {{ {EVENT_FIELDS} }} }}"
ADMIN_EVENTS = f"subscription {{ adminEnrollmentEvents {{ {EVENT_FIELDS} }} }}"
CREATE_COURSE = """
mutation($input: CreateCourseInput!) { createCourse(input: $input) { course { id } errors { code } } }
"""
ENROLL = """
mutation($input: EnrollInput!) {
  enroll(input: $input) { enrollment { id status version } errors { code } }
}
"""
APPROVE = """
mutation($id: ID!) {
  approveEnrollment(enrollmentId: $id) { enrollment { id status version } errors { code } }
}
"""
CANCEL = """
mutation($id: ID!) {
  cancelEnrollment(enrollmentId: $id) { enrollment { id status version } errors { code } }
}
"""


async def create_course(gql: GraphQLClient, running: RunningApp, course_id: str) -> None:
    admin = running.token("admin-setup", Role.ADMIN)
    created = await gql(CREATE_COURSE, {"input": {"id": course_id, "title": course_id, "price": 1000}}, admin)
    assert created["data"]["createCourse"]["errors"] == [], created


async def enroll_eft(gql: GraphQLClient, token: str, course_id: str) -> dict[str, Any]:
    body = await gql(ENROLL, {"input": {"courseId": course_id, "paymentMethod": "EFT"}}, token)
    payload: dict[str, Any] = body["data"]["enroll"]
    assert payload["errors"] == [], body
    enrollment: dict[str, Any] = payload["enrollment"]
    return enrollment


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110  (server counters are polled, not events)
            await asyncio.sleep(0.01)


async def card_of(client: WsClient, op: str, within: float = 5.0) -> dict[str, Any]:
    data = await client.next_data(op, within)
    card: dict[str, Any] = data["courseCard"]
    return card
