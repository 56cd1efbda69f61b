"""Rate limits over real HTTP and WebSocket, two instances sharing one Redis (and one database).

Each limit: at the limit allowed, one past refused with its answer (429 + Retry-After +
RATE_LIMITED/retryAfter, or close 4429), the second instance seeing the first's count. Windows
are an hour long, so no assertion depends on how fast the machine runs the test.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from sandbox.embedded import ManagedServer, start_redis
from tests.api.test_metrics import Samples, scrape, total
from tests.api.webhook_support import encode, enroll, event, signed_headers
from tests.realtime.wsclient import LEGACY_WS, TRANSPORT_WS, WsClient, signed_in, ws_connect
from tests.servers import GraphQLClient, RunningApp, serve, test_settings

TYPENAME = "{ __typename }"
ENROLL = """
mutation Enroll($input: EnrollInput!) { enroll(input: $input) { enrollment { id } errors { code } } }
"""
TWO_ENROLLS = """
mutation Two($a: EnrollInput!, $b: EnrollInput!) {
  first: enroll(input: $a) { errors { code } }
  ...Again
}
fragment Again on Mutation { second: enroll(input: $b) { errors { code } } }
"""
RETRY = "mutation Retry($id: ID!) { retryPayment(enrollmentId: $id) { errors { code } } }"


@contextlib.asynccontextmanager
async def pair(
    redis_url: str, mongodb_url: str, **overrides: Any
) -> AsyncIterator[tuple[RunningApp, RunningApp]]:
    """Two instances of one deployment: the same database and Redis, so the same limit keys."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    first = test_settings(mongodb_url, redis_url, mongodb_db=database, job_workers=0, **overrides)
    second = test_settings(mongodb_url, redis_url, mongodb_db=database, job_workers=0, **overrides)
    async with serve(first) as a, serve(second) as b:
        yield a, b


@contextlib.asynccontextmanager
async def clients(*apps: RunningApp) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(httpx.AsyncClient(base_url=app.base_url, timeout=30))
            for app in apps
        ]


async def post(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return await http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=sent)


def assert_limited(response: httpx.Response, window: int = 3600) -> int:
    """A 429 with the contract's answer; the seconds it asks to wait."""
    assert response.status_code == 429, response.text
    wait = int(response.headers["retry-after"])
    assert 1 <= wait <= window
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": wait}, error
    return wait


def limited(samples: Samples, rule: str) -> float:
    return total(samples, "enrollwire_rate_limited_total", rule=rule)


def failed_open(samples: Samples, rule: str) -> float:
    return total(samples, "enrollwire_rate_limit_fail_open_total", rule=rule)


async def test_graphql_requests_per_ip_and_per_user_across_instances(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    async with (
        pair(redis_server.url, mongo_server.url, rate_limits="graphql=4/hour") as (a, b),
        clients(a, b) as (http_a, http_b),
    ):
        before = await scrape(http_b)
        for http in (http_a, http_b, http_a, http_b):  # anonymous: counted per IP, on both
            response = await post(http, TYPENAME)
            assert response.status_code == 200, response.text
        assert_limited(await post(http_b, TYPENAME))
        assert_limited(await post(http_a, TYPENAME))
        # A signed-in student has a count of their own, even from the same address.
        alice = a.token(f"alice-{uuid.uuid4().hex[:6]}")
        for http in (http_a, http_b, http_b, http_a):
            assert (await post(http, TYPENAME, token=alice)).status_code == 200
        assert_limited(await post(http_b, TYPENAME, token=alice))
        after = await scrape(http_b)
        assert limited(after, "graphql") - limited(before, "graphql") == 2  # b refused two
        assert failed_open(after, "graphql") == failed_open(before, "graphql")


async def test_enroll_and_retry_payment_share_a_count_per_user(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    async with (
        pair(redis_server.url, mongo_server.url, rate_limits="enroll=4/hour") as (a, b),
        clients(a, b) as (http_a, http_b),
    ):
        student, other = a.token(f"s-{uuid.uuid4().hex[:6]}"), a.token(f"o-{uuid.uuid4().hex[:6]}")
        missing = {"courseId": "no-such-course", "paymentMethod": "EFT"}
        # Two fields in one mutation (one through a fragment) count twice; a retryPayment once.
        response = await post(http_a, TWO_ENROLLS, {"a": missing, "b": missing}, student)
        assert response.status_code == 200 and "errors" not in response.json(), response.text
        assert (await post(http_b, ENROLL, {"input": missing}, student)).status_code == 200
        assert (await post(http_a, RETRY, {"id": "no-such-enrollment"}, student)).status_code == 200
        assert_limited(await post(http_b, RETRY, {"id": "no-such-enrollment"}, student))
        assert_limited(await post(http_a, ENROLL, {"input": missing}, student))
        # Queries of the same student, and other students' enrollments, still pass.
        assert (await post(http_a, TYPENAME, token=student)).status_code == 200
        assert (await post(http_b, ENROLL, {"input": missing}, other)).status_code == 200


async def test_failed_authentication_per_ip_over_http_and_websocket(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    async with (
        pair(redis_server.url, mongo_server.url, rate_limits="auth_failures=3/hour") as (a, b),
        clients(a, b) as (http_a, http_b),
    ):
        bad = "not-a-token"
        for http in (http_a, http_b):
            response = await post(http, TYPENAME, token=bad)
            assert response.status_code == 200
            assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        async with ws_connect(b.ws_url, TRANSPORT_WS) as socket:  # the third failure: still 4403
            await socket.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {bad}"}})
            assert await socket.close_code() == 4403
        assert_limited(await post(http_a, TYPENAME, token=bad))
        async with ws_connect(a.ws_url, LEGACY_WS) as socket:
            await socket.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {bad}"}})
            assert await socket.close_code() == 4429
        # A valid token from the same address is not a failure and passes.
        good = a.token(f"s-{uuid.uuid4().hex[:6]}")
        assert (await post(http_b, TYPENAME, token=good)).status_code == 200
        async with signed_in(b.ws_url, good) as socket:
            await socket.ping()


async def test_websocket_handshakes_per_ip(mongo_server: ManagedServer, redis_server: ManagedServer) -> None:
    async with pair(redis_server.url, mongo_server.url, rate_limits="ws_handshakes=3/hour") as (a, b):
        async with signed_in(a.ws_url, None), signed_in(b.ws_url, None):
            pass
        async with signed_in(b.ws_url, None, LEGACY_WS):
            pass
        for app, protocol in ((a, TRANSPORT_WS), (b, LEGACY_WS)):
            async with ws_connect(app.ws_url, protocol) as socket:
                assert await socket.close_code() == 4429
                assert socket.ws.close_reason is not None and "retry after" in socket.ws.close_reason


async def test_open_sockets_per_user_across_instances(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    async with (
        pair(redis_server.url, mongo_server.url, rate_limits="ws_sockets_per_user=2") as (a, b),
        clients(b) as (http_b,),
    ):
        user = f"s-{uuid.uuid4().hex[:6]}"
        token, other = a.token(user), a.token(f"o-{uuid.uuid4().hex[:6]}")
        before = await scrape(http_b)
        async with signed_in(a.ws_url, token) as first:
            async with signed_in(b.ws_url, token, LEGACY_WS):
                for app in (a, b):
                    async with ws_connect(app.ws_url) as third:
                        await third.send(
                            {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
                        )
                        assert await third.close_code() == 4429
                async with signed_in(b.ws_url, other) as someone_else:
                    await someone_else.ping()
                await first.ping()  # the sockets within the limit still serve
            # One closed: its slot is free again, on the other instance too.
            async with signed_in(b.ws_url, token) as again:
                await again.ping()
        after = await scrape(http_b)
        assert limited(after, "ws_sockets_per_user") - limited(before, "ws_sockets_per_user") == 1


async def test_forwarded_for_believed_only_from_trusted_proxies(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    async with (
        pair(redis_server.url, mongo_server.url, rate_limits="graphql=2/hour") as (direct, _),
        clients(direct) as (http,),
    ):
        # The peer (127.0.0.1) is no proxy of ours: a different X-Forwarded-For each time changes nothing.
        for n in range(2):
            response = await post(http, TYPENAME, headers={"X-Forwarded-For": f"198.51.100.{n}"})
            assert response.status_code == 200
        assert_limited(await post(http, TYPENAME, headers={"X-Forwarded-For": "198.51.100.9"}))
    async with (
        pair(
            redis_server.url, mongo_server.url, rate_limits="graphql=2/hour", trusted_proxies=["127.0.0.0/8"]
        ) as (proxied, _),
        clients(proxied) as (http,),
    ):
        # Behind our proxy: the last hop it did not write is the client; what the client wrote to
        # its left is ignored.
        for spoof in ("1.1.1.1", "2.2.2.2"):
            headers = {"X-Forwarded-For": f"{spoof}, 203.0.113.7"}
            assert (await post(http, TYPENAME, headers=headers)).status_code == 200
        assert_limited(await post(http, TYPENAME, headers={"X-Forwarded-For": "3.3.3.3, 203.0.113.7"}))
        assert (await post(http, TYPENAME, headers={"X-Forwarded-For": "203.0.113.8"})).status_code == 200


async def test_limits_fail_open_when_redis_is_down(mongo_server: ManagedServer, tmp_path: Path) -> None:
    redis = start_redis(tmp_path / "redis")
    try:
        async with (
            pair(redis.url, mongo_server.url, rate_limits="graphql=1/hour") as (a, _),
            clients(a) as (http,),
        ):
            assert (await post(http, TYPENAME)).status_code == 200
            assert_limited(await post(http, TYPENAME))  # the limit holds while Redis answers
            redis.stop()
            before = await scrape(http)
            for _ in range(3):
                response = await post(http, TYPENAME)
                assert response.status_code == 200, response.text
                assert response.json() == {"data": {"__typename": "Query"}}
            after = await scrape(http)
            assert failed_open(after, "graphql") - failed_open(before, "graphql") == 3
            assert limited(after, "graphql") == limited(before, "graphql")
    finally:
        redis.stop()


async def test_forged_webhooks_limited_while_signed_ones_pass(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    """500 forged deliveries from one IP: the first 60 get 401, the rest 429; a correctly signed
    delivery sent in the middle of them is processed all the same."""
    async with (
        pair(redis_server.url, mongo_server.url, rate_limits="webhook_bad_signature=60/hour") as (a, b),
        clients(a, b) as (http_a, http_b),
    ):
        gql = GraphQLClient(http_a, a)
        enrolled = await enroll(gql, a, price=5000, method="EFT")
        before = await scrape(http_a)

        async def forged(http: httpx.AsyncClient, n: int) -> int:
            body = encode(event(enrolled.reference, 5000, event_id=f"forged-{n}"))
            headers = signed_headers(body, secret="not-the-webhook-secret-0123456789abcdef")
            return (await http.post("/webhooks/payments", content=body, headers=headers)).status_code

        statuses = [await forged(http_a if n % 2 else http_b, n) for n in range(250)]
        body = encode(event(enrolled.reference, 5000))
        signed = await http_a.post("/webhooks/payments", content=body, headers=signed_headers(body))
        statuses += [await forged(http_a if n % 2 else http_b, n) for n in range(250, 500)]

        assert statuses[:60] == [401] * 60
        assert statuses[60:] == [429] * 440
        assert signed.status_code == 200, signed.text
        assert signed.json()["status"] in {"processed", "PROCESSED"}, signed.json()
        answer = await http_b.post(
            "/webhooks/payments", content=b"{}", headers=signed_headers(b"{}", "x" * 40)
        )
        assert answer.status_code == 429
        assert answer.json()["error"]["code"] == "RATE_LIMITED"
        assert answer.json()["error"]["retryAfter"] == int(answer.headers["retry-after"])
        after = await scrape(http_a)
        deliveries = "enrollwire_webhook_deliveries_total"
        assert (
            total(after, deliveries, outcome="bad_signature")
            - total(before, deliveries, outcome="bad_signature")
            == 30
        )
        assert (
            total(after, deliveries, outcome="rate_limited")
            - total(before, deliveries, outcome="rate_limited")
            == 220
        )
        assert limited(after, "webhook_bad_signature") - limited(before, "webhook_bad_signature") == 220


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_limits_off_counts_nothing(
    mongo_server: ManagedServer, redis_server: ManagedServer, protocol: str
) -> None:
    async with pair(redis_server.url, mongo_server.url, rate_limits="off") as (a, _), clients(a) as (http,):
        for _ in range(5):
            assert (await post(http, TYPENAME, token="bad")).status_code == 200
        sockets = [signed_in(a.ws_url, a.token("many"), protocol) for _ in range(3)]
        async with contextlib.AsyncExitStack() as stack:
            opened: list[WsClient] = [await stack.enter_async_context(s) for s in sockets]
            assert len(opened) == 3
        assert limited(await scrape(http), "graphql") == 0
