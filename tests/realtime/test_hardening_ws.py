"""WebSocket limits over real sockets: subscriptions per connection, message size, no per-message
compression, the connection_init timeout, and hostile messages that must not take the server down.

Size, compression and the init timeout are uvicorn and settings wiring, so they are checked on the
in-process test server and on `enrollwire serve` itself (production profile, own process).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx2 as httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from api.graphql_view import MAX_SUBSCRIPTIONS_PER_CONNECTION
from sandbox.embedded import ManagedServer
from server.settings import Settings
from server.websocket_protocol import WS_MAX_MESSAGE_BYTES
from tests.cli_server import CliServer
from tests.realtime.wsclient import (
    COURSE_CARD,
    LEGACY_WS,
    PROTOCOLS,
    TRANSPORT_WS,
    WsClient,
    card_of,
    create_course,
    signed_in,
    ws_connect,
)
from tests.servers import GraphQLClient, RunningApp, serve, test_settings


@pytest.fixture(scope="module")
async def dev(mongo_server: ManagedServer, redis_server: ManagedServer) -> AsyncIterator[RunningApp]:
    """Default settings: the connection_init timeout is the shipped one."""
    async with serve(test_settings(mongo_server.url, redis_server.url)) as app:
        yield app


@pytest.fixture(scope="module")
async def gql(dev: RunningApp) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(base_url=dev.base_url, timeout=30) as http:
        yield GraphQLClient(http, dev)


@dataclass
class Endpoint:
    ws_url: str
    production: bool


@pytest.fixture(params=["in-process", "enrollwire serve"])
def endpoint(request: pytest.FixtureRequest, dev: RunningApp, production: CliServer) -> Endpoint:
    if request.param == "in-process":
        return Endpoint(dev.ws_url, False)
    return Endpoint(production.ws_url, True)


async def still_serves(url: str) -> None:
    async with signed_in(url, None) as client:
        await client.ping()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_subscriptions_at_the_cap_run_and_one_more_is_refused(
    dev: RunningApp, gql: GraphQLClient, protocol: str
) -> None:
    course = f"cap-{protocol}"
    await create_course(gql, dev, course)
    async with signed_in(dev.ws_url, dev.token("capped"), protocol) as tab:
        ops = [
            await tab.subscribe(COURSE_CARD, {"courseId": course})
            for _ in range(MAX_SUBSCRIPTIONS_PER_CONNECTION)
        ]
        for op in ops:
            assert (await card_of(tab, op))["version"] == 0
        refused = await tab.subscribe(COURSE_CARD, {"courseId": course})
        message = await tab.next_message(refused)
        assert message["type"] == "error"
        assert "Subscription limit reached" in json.dumps(message["payload"])
        # The socket keeps serving, and a completed subscription frees its place.
        await tab.unsubscribe(ops[0])
        again = await tab.subscribe(COURSE_CARD, {"courseId": course})
        assert (await card_of(tab, again))["version"] == 0


def padded_init(size: int) -> str:
    """A connection_init of exactly `size` bytes (ASCII, so characters are bytes)."""
    bare = json.dumps({"type": "connection_init", "payload": {"pad": ""}})
    message = json.dumps({"type": "connection_init", "payload": {"pad": "x" * (size - len(bare))}})
    assert len(message.encode()) == size
    return message


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_message_at_the_size_cap_is_read_and_one_byte_more_closes_with_1009(
    endpoint: Endpoint, protocol: str
) -> None:
    async with ws_connect(endpoint.ws_url, protocol) as client:
        await client.ws.send(padded_init(WS_MAX_MESSAGE_BYTES))
        assert (await client.next_message(None))["type"] == "connection_ack"
    async with ws_connect(endpoint.ws_url, protocol) as client:
        await client.ws.send(padded_init(WS_MAX_MESSAGE_BYTES + 1))
        assert await client.close_code() == 1009
    await still_serves(endpoint.ws_url)


async def test_per_message_compression_is_never_negotiated(endpoint: Endpoint) -> None:
    async with connect(
        endpoint.ws_url, subprotocols=[Subprotocol(TRANSPORT_WS)], compression="deflate", proxy=None
    ) as ws:
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        assert ws.protocol.extensions == []


def test_the_connection_init_timeout_is_a_few_seconds() -> None:
    assert 1 <= Settings.model_fields["connection_init_timeout_seconds"].default <= 5


async def test_a_socket_that_never_initialises_is_closed_with_4408(
    dev: RunningApp, production: CliServer
) -> None:
    async def silent(url: str, protocol: str) -> int | None:
        async with ws_connect(url, protocol) as client:
            return await client.close_code(within=30)

    closes = await asyncio.gather(
        *(silent(dev.ws_url, protocol) for protocol in PROTOCOLS), silent(production.ws_url, TRANSPORT_WS)
    )
    assert closes == [4408, 4408, 4408]


MISSPELT = 'subscription { courseCard(courseID: "c") { version } }'


async def test_suggestions_over_websocket_only_in_development(endpoint: Endpoint) -> None:
    async with signed_in(endpoint.ws_url, None) as client:
        errors = await client.next_errors(await client.subscribe(MISSPELT))
    suggested = any("Did you mean" in error["message"] for error in errors)
    assert suggested is not endpoint.production, errors


# Messages that are JSON (or JSON nested past the parser's recursion) but not a message object.
NOT_MESSAGES = {
    "nested too deeply": '{"type": "ping", "payload": ' + "[" * 30_000 + "]" * 30_000 + "}",
    "null": "null",
    "a number": "5",
    "a list": "[]",
}


async def answers_after(client: WsClient, message: str) -> bool:
    """Sends `message`, then asks something: is the socket still answered?"""
    await client.ws.send(message)
    try:
        await client.next_errors(await client.subscribe(MISSPELT), within=10)
    except ConnectionClosed:
        return False
    return True


@pytest.mark.parametrize("message", NOT_MESSAGES.values(), ids=NOT_MESSAGES.keys())
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_message_that_is_no_message_object_leaves_the_server_serving(
    dev: RunningApp, protocol: str, message: str
) -> None:
    async with signed_in(dev.ws_url, None, protocol) as client:
        await answers_after(client, message)
    await still_serves(dev.ws_url)


@pytest.mark.parametrize("message", NOT_MESSAGES.values(), ids=NOT_MESSAGES.keys())
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_message_that_is_no_message_object_is_an_invalid_message(
    dev: RunningApp, protocol: str, message: str
) -> None:
    async with signed_in(dev.ws_url, None, protocol) as client:
        answered = await answers_after(client, message)
        if protocol == TRANSPORT_WS:
            # graphql-transport-ws closes on a message that is not JSON, with 4400.
            assert not answered and client.ws.close_code == 4400
        else:
            # The legacy protocol ignores such messages and carries on.
            assert answered


# Well-formed envelopes whose operation part is not: Strawberry's handlers died on these.
BAD_OPERATIONS = {
    "payload not an object": {"id": "7", "payload": "subscription { x }"},
    "query not a string": {"id": "7", "payload": {"query": ["subscription"]}},
    "variables not an object": {"id": "7", "payload": {"query": MISSPELT, "variables": [1]}},
    "id not a string": {"id": {"x": 1}, "payload": {"query": MISSPELT}},
}


@pytest.mark.parametrize("message", BAD_OPERATIONS.values(), ids=BAD_OPERATIONS.keys())
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_malformed_operation_is_refused_cleanly(
    dev: RunningApp, protocol: str, message: dict[str, object]
) -> None:
    start = "subscribe" if protocol == TRANSPORT_WS else "start"
    async with signed_in(dev.ws_url, None, protocol) as client:
        answered = await answers_after(client, json.dumps({**message, "type": start}))
        if protocol == TRANSPORT_WS:
            assert not answered and client.ws.close_code == 4400
        else:
            assert answered  # an error for that operation; the socket carries on
    await still_serves(dev.ws_url)


@pytest.mark.parametrize(
    "offered",
    [[TRANSPORT_WS, LEGACY_WS], [LEGACY_WS, TRANSPORT_WS]],
    ids=["transport-first", "legacy-first"],
)
async def test_a_client_offering_both_protocols_gets_graphql_transport_ws(
    endpoint: Endpoint, offered: list[str]
) -> None:
    async with connect(
        endpoint.ws_url, subprotocols=[Subprotocol(p) for p in offered], compression=None, proxy=None
    ) as ws:
        assert ws.subprotocol == TRANSPORT_WS
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv())["type"] == "pong"  # the current protocol serves it


async def test_a_client_offering_only_the_legacy_protocol_still_gets_it(endpoint: Endpoint) -> None:
    async with connect(
        endpoint.ws_url,
        subprotocols=[Subprotocol(LEGACY_WS), Subprotocol("other")],
        compression=None,
        proxy=None,
    ) as ws:
        assert ws.subprotocol == LEGACY_WS
