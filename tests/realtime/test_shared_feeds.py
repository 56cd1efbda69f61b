"""Event streams over graphql-transport-ws: executed once per event and distinct operation.

What sharing must not change is what each socket sees: its own operation id, its own selection,
its own variables, errors with their codes (ours masked), and nothing after it unsubscribes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from domain.viewer import Role
from tests.realtime.wsclient import (
    ADMIN_EVENTS,
    LEGACY_WS,
    MY_UPDATES,
    WsClient,
    create_course,
    enroll_eft,
    signed_in,
    until,
)
from tests.servers import GraphQLClient, RunningApp

NARROW = "subscription { adminEnrollmentEvents { enrollment { id } } }"
WITH_VARIABLE = """
subscription($full: Boolean!) {
  events: adminEnrollmentEvents { type enrollment { id status @include(if: $full) } }
}
"""
ADMIN_ONLY_FIELD = (
    "subscription { myEnrollmentUpdates { type enrollment { id webhookDeliveries { eventId } } } }"
)


async def metric(gql: GraphQLClient, name: str, labels: dict[str, str]) -> float:
    response = await gql.http.get("/metrics")
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


async def test_same_operation_shares_one_feed_and_each_socket_keeps_its_id_and_shape(
    gql: GraphQLClient, running: RunningApp
) -> None:
    await create_course(gql, running, "shared-1")
    feeds = running.app.runtime.feeds
    admin = running.token("admin-a", Role.ADMIN)
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(signed_in(running.ws_url, admin)) for _ in range(4)]
        same = [await s.subscribe(ADMIN_EVENTS) for s in sockets[:3]]
        # Different operation ids on one socket must not be confused by the shared payload.
        narrow_too = await sockets[0].subscribe(NARROW)
        narrow = await sockets[3].subscribe(NARROW)
        full = await sockets[3].subscribe(WITH_VARIABLE, {"full": True})
        short = await sockets[3].subscribe(WITH_VARIABLE, {"full": False})
        await until(lambda: len(feeds) == 4)  # ADMIN_EVENTS, NARROW, and WITH_VARIABLE twice

        enrollment = await enroll_eft(gql, running.token("stu-shared"), "shared-1")

        events = [
            (await s.next_data(op))["adminEnrollmentEvents"] for s, op in zip(sockets, same, strict=False)
        ]
        assert all(e == events[0] for e in events)
        assert events[0]["type"] == "CREATED" and events[0]["enrollment"]["id"] == enrollment["id"]
        assert set(events[0]["enrollment"]) == {"id", "userId", "status", "version"}
        narrowed = {"enrollment": {"id": enrollment["id"]}}
        assert (await sockets[0].next_data(narrow_too))["adminEnrollmentEvents"] == narrowed
        assert (await sockets[3].next_data(narrow))["adminEnrollmentEvents"] == narrowed
        assert (await sockets[3].next_data(full))["events"]["enrollment"] == {
            "id": enrollment["id"],
            "status": "AWAITING_APPROVAL",
        }
        assert (await sockets[3].next_data(short))["events"]["enrollment"] == {"id": enrollment["id"]}

        # Unsubscribing one member leaves the feed to the others; the last one ends it.
        await sockets[0].unsubscribe(same[0])
        await sockets[1].unsubscribe(same[1])
        await until(lambda: len(feeds) == 4)
        await sockets[2].unsubscribe(same[2])
        await until(lambda: len(feeds) == 3)
    await until(lambda: len(feeds) == 0 and running.app.runtime.hub.stats().subscribers == 0)


async def test_a_student_feed_is_his_own_and_field_errors_keep_their_code(
    gql: GraphQLClient, running: RunningApp
) -> None:
    await create_course(gql, running, "shared-2")
    alice, bob = running.token("alice-shared"), running.token("bob-shared")
    async with (
        signed_in(running.ws_url, alice) as tab1,
        signed_in(running.ws_url, alice) as tab2,
        signed_in(running.ws_url, bob) as other,
    ):
        ops = [await tab1.subscribe(MY_UPDATES), await tab2.subscribe(MY_UPDATES)]
        forbidden = await tab1.subscribe(ADMIN_ONLY_FIELD)
        bobs = await other.subscribe(MY_UPDATES)
        feeds = running.app.runtime.feeds
        await until(lambda: len(feeds) == 3)  # alice's two tabs share; bob has his own

        mine = await enroll_eft(gql, alice, "shared-2")
        for tab, op in zip((tab1, tab2), ops, strict=True):
            assert (await tab.next_data(op))["myEnrollmentUpdates"]["enrollment"]["id"] == mine["id"]
        message = await tab1.next_message(forbidden)
        assert message["type"] == "next"
        assert [e["extensions"]["code"] for e in message["payload"]["errors"]] == ["FORBIDDEN"]

        theirs = await enroll_eft(gql, bob, "shared-2")
        assert (await other.next_data(bobs))["myEnrollmentUpdates"]["enrollment"]["id"] == theirs["id"]
        await assert_silent(tab1, ops[0])  # bob's change never reaches alice


async def assert_silent(client: WsClient, op: str) -> None:
    with contextlib.suppress(TimeoutError):
        message = await client.next_message(op, within=0.5)
        raise AssertionError(f"unexpected message {json.dumps(message)}")


async def test_lag_histogram_and_gauges_count_every_socket(gql: GraphQLClient, running: RunningApp) -> None:
    await create_course(gql, running, "shared-3")
    admin = running.token("admin-lag", Role.ADMIN)
    lag: dict[str, str] = {"field": "adminEnrollmentEvents"}
    before = await metric(gql, "enrollwire_realtime_lag_seconds_count", lag)
    opened_before = await metric(gql, "enrollwire_websockets_open", {})
    async with (
        signed_in(running.ws_url, admin) as a,
        signed_in(running.ws_url, admin) as b,
        signed_in(running.ws_url, admin, LEGACY_WS) as legacy,
    ):
        ops: list[tuple[WsClient, str]] = [(c, await c.subscribe(ADMIN_EVENTS)) for c in (a, b, legacy)]
        await until(lambda: running.app.runtime.hub.stats().subscribers >= 2)
        assert await metric(gql, "enrollwire_websockets_open", {}) == opened_before + 3
        active = await metric(gql, "enrollwire_subscriptions_active", lag)
        assert active == 3
        await enroll_eft(gql, running.token("stu-lag"), "shared-3")
        received: list[dict[str, Any]] = [await c.next_data(op) for c, op in ops]
        assert len(received) == 3
        await until_metric(gql, "enrollwire_realtime_lag_seconds_count", lag, before + 3)
    await until_metric(gql, "enrollwire_subscriptions_active", lag, 0)
    await until_metric(gql, "enrollwire_websockets_open", {}, opened_before)


async def until_metric(gql: GraphQLClient, name: str, labels: dict[str, str], value: float) -> None:
    seen = None
    for _ in range(200):
        seen = await metric(gql, name, labels)
        if seen == value:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name}{labels} is {seen}, expected {value}")


async def test_a_detached_operation_keeps_its_id_until_the_client_completes_it(
    gql: GraphQLClient, running: RunningApp
) -> None:
    """Its task is gone once it is handed to a feed; the protocol must not notice."""
    await create_course(gql, running, "shared-4")
    feeds = running.app.runtime.feeds
    admin = running.token("admin-ids", Role.ADMIN)
    async with signed_in(running.ws_url, admin) as console, signed_in(running.ws_url, admin) as other:
        await console.send({"id": "feed", "type": "subscribe", "payload": {"query": ADMIN_EVENTS}})
        watcher = await other.subscribe(ADMIN_EVENTS)
        await until(lambda: len(feeds) == 1 and sum(len(f.members) for f in feeds._feeds.values()) == 2)
        assert await metric(gql, "enrollwire_subscriptions_active", {"field": "adminEnrollmentEvents"}) == 2

        first = await enroll_eft(gql, running.token("stu-ids-1"), "shared-4")
        assert (await console.next_data("feed"))["adminEnrollmentEvents"]["enrollment"]["id"] == first["id"]
        assert (await other.next_data(watcher))["adminEnrollmentEvents"]["enrollment"]["id"] == first["id"]

        # The client completes it: nothing more arrives for it, and the feed keeps the other member.
        await console.unsubscribe("feed")
        await until(lambda: sum(len(f.members) for f in feeds._feeds.values()) == 1)
        second = await enroll_eft(gql, running.token("stu-ids-2"), "shared-4")
        assert (await other.next_data(watcher))["adminEnrollmentEvents"]["enrollment"]["id"] == second["id"]
        await assert_silent(console, "feed")
        assert await metric(gql, "enrollwire_subscriptions_active", {"field": "adminEnrollmentEvents"}) == 1

        # Its id is free again, and a new subscription under it is a new member.
        await console.send({"id": "feed", "type": "subscribe", "payload": {"query": ADMIN_EVENTS}})
        await until(lambda: sum(len(f.members) for f in feeds._feeds.values()) == 2)
        third = await enroll_eft(gql, running.token("stu-ids-3"), "shared-4")
        assert (await console.next_data("feed"))["adminEnrollmentEvents"]["enrollment"]["id"] == third["id"]
        assert (await other.next_data(watcher))["adminEnrollmentEvents"]["enrollment"]["id"] == third["id"]
        await assert_silent(console, "feed")  # exactly one frame: the first member is really gone

        # While it runs, its id is taken: the protocol's 4409.
        await console.send({"id": "feed", "type": "subscribe", "payload": {"query": ADMIN_EVENTS}})
        assert await console.close_code() == 4409
    await until(lambda: len(feeds) == 0 and running.app.runtime.hub.stats().subscribers == 0)
    assert await metric(gql, "enrollwire_subscriptions_active", {"field": "adminEnrollmentEvents"}) == 0
