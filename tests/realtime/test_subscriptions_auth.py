"""WebSocket auth and hygiene: close codes, per-operation errors, token expiry, Origin checks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from websockets.exceptions import InvalidStatus

from sandbox.embedded import ManagedServer
from tests import servers
from tests.realtime.wsclient import (
    ADMIN_EVENTS,
    COURSE_CARD,
    LEGACY_WS,
    PROTOCOLS,
    card_of,
    create_course,
    signed_in,
    until,
    ws_connect,
)
from tests.servers import GraphQLClient, RunningApp, serve


@pytest.fixture
async def impatient(mongo_server: ManagedServer, redis_server: ManagedServer) -> AsyncIterator[RunningApp]:
    """An app that waits only half a second for connection_init."""
    settings = servers.test_settings(mongo_server.url, redis_server.url, connection_init_timeout_seconds=0.5)
    async with serve(settings) as app:
        yield app


@pytest.fixture
async def behind_a_domain(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> AsyncIterator[RunningApp]:
    origins = "https://app.example.com"
    settings = servers.test_settings(mongo_server.url, redis_server.url, allowed_origins=origins)
    async with serve(settings) as app:
        yield app


@pytest.mark.parametrize("ttl", [3600, -60], ids=["forged", "expired"])
async def test_a_bad_token_in_connection_init_closes_with_4403(running: RunningApp, ttl: int) -> None:
    token = running.token("mallory", ttl=ttl)
    if ttl > 0:
        token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    async with ws_connect(running.ws_url) as client:
        await client.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        assert await client.close_code() == 4403


async def test_a_bad_token_is_refused_on_the_legacy_protocol_too(running: RunningApp) -> None:
    async with ws_connect(running.ws_url, LEGACY_WS) as client:
        await client.send({"type": "connection_init", "payload": {"authorization": "Bearer nonsense"}})
        assert (await client.next_message(None))["type"] == "connection_error"
        assert await client.close_code() is not None


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_no_connection_init_within_the_timeout_closes_with_4408(
    impatient: RunningApp, protocol: str
) -> None:
    async with ws_connect(impatient.ws_url, protocol) as client:
        assert await client.close_code() == 4408


async def test_a_student_is_refused_admin_events_and_his_socket_keeps_working(
    gql: GraphQLClient, running: RunningApp
) -> None:
    await create_course(gql, running, "c1")
    async with signed_in(running.ws_url, running.token("student-1")) as tab:
        refused = await tab.subscribe(ADMIN_EVENTS)
        errors = await tab.next_errors(refused)
        assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"]
        op = await tab.subscribe(COURSE_CARD, {"courseId": "c1"})
        assert (await card_of(tab, op))["buttonText"] == "Enroll Now"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_token_reaching_its_exp_closes_the_open_socket_with_4403(
    gql: GraphQLClient, running: RunningApp, protocol: str
) -> None:
    await create_course(gql, running, "c1")
    async with signed_in(running.ws_url, running.token("short-lived", ttl=2), protocol) as tab:
        op = await tab.subscribe(COURSE_CARD, {"courseId": "c1"})
        assert (await card_of(tab, op))["version"] == 0
        assert await tab.close_code(within=10) == 4403
    # Both of the card's inboxes (its course's and the student's) are let go as the socket closes.
    await until(lambda: running.app.runtime.hub.stats().subscribers == 0)


async def test_origin_defaults_to_own_and_localhost_and_refuses_others(running: RunningApp) -> None:
    port = running.settings.port
    for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}", None):
        async with signed_in(running.ws_url, None, origin=origin):
            pass
    for foreign in ("https://evil.example", f"http://localhost:{port + 1}", "null"):
        with pytest.raises(InvalidStatus) as refused:
            async with ws_connect(running.ws_url, origin=foreign):
                pass
        assert refused.value.response.status_code == 403


async def test_configured_origins_replace_the_defaults(behind_a_domain: RunningApp) -> None:
    async with signed_in(behind_a_domain.ws_url, None, origin="https://app.example.com"):
        pass
    with pytest.raises(InvalidStatus):
        async with ws_connect(
            behind_a_domain.ws_url, origin=f"http://localhost:{behind_a_domain.settings.port}"
        ):
            pass
