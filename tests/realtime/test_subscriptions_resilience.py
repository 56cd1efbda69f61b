"""Subscriptions across server instances, through a Redis outage, under churn and slow readers."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx2 as httpx
import pytest
from redis.asyncio import Redis

from domain.enrollment import Access, AccessStatus, Enrollment, EnrollmentStatus, PaymentMethod
from domain.events import EnrollmentChange, EventType
from domain.money import Money
from domain.viewer import Role
from realtime.channels import ADMIN_CHANNEL, PREFIX
from realtime.envelope import Envelope
from sandbox.embedded import ManagedServer
from tests import servers
from tests.realtime.wsclient import (
    ADMIN_EVENTS,
    APPROVE,
    COURSE_CARD,
    PROTOCOLS,
    card_of,
    create_course,
    enroll_eft,
    signed_in,
    until,
    ws_connect,
)
from tests.servers import GraphQLClient, RunningApp, serve


@contextlib.asynccontextmanager
async def gql_for(app: RunningApp) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(base_url=app.base_url, timeout=30) as http:
        yield GraphQLClient(http, app)


async def test_a_change_made_through_one_instance_reaches_subscribers_of_another(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    first = servers.test_settings(mongo_server.url, redis_server.url)
    second = servers.test_settings(mongo_server.url, redis_server.url, mongodb_db=first.mongodb_db)
    async with serve(first) as one, serve(second) as two, gql_for(two) as gql_two:
        await create_course(gql_two, two, "c1")
        student, admin = one.token("cross"), one.token("admin-x", Role.ADMIN)
        async with signed_in(one.ws_url, student) as tab, signed_in(one.ws_url, admin) as console:
            card = await tab.subscribe(COURSE_CARD, {"courseId": "c1"})
            events = await console.subscribe(ADMIN_EVENTS)
            assert (await card_of(tab, card))["version"] == 0

            enrollment = await enroll_eft(gql_two, student, "c1")
            assert (await card_of(tab, card))["buttonText"] == "Pending Approval"
            created = (await console.next_data(events))["adminEnrollmentEvents"]
            assert (created["type"], created["enrollment"]["id"]) == ("CREATED", enrollment["id"])


async def test_redis_killed_and_restarted_resends_every_card_its_current_state(
    mongo_server: ManagedServer, own_redis: ManagedServer
) -> None:
    async with serve(servers.test_settings(mongo_server.url, own_redis.url)) as app, gql_for(app) as gql:
        hub = app.app.runtime.hub
        await create_course(gql, app, "c1")
        students = [f"s{i}" for i in range(10)]
        tokens = {s: app.token(s) for s in students}
        admin = app.token("admin-r", Role.ADMIN)
        async with contextlib.AsyncExitStack() as stack:
            # 50 courseCard subscriptions: 5 tabs for each of 10 students, half on each protocol.
            tabs = [
                (s, await stack.enter_async_context(signed_in(app.ws_url, tokens[s], PROTOCOLS[i % 2])))
                for s in students
                for i in range(5)
            ]
            ops = [await tab.subscribe(COURSE_CARD, {"courseId": "c1"}) for _, tab in tabs]
            for (_, tab), op in zip(tabs, ops, strict=True):
                assert (await card_of(tab, op))["version"] == 0
            console = await stack.enter_async_context(signed_in(app.ws_url, admin))
            events = await console.subscribe(ADMIN_EVENTS)

            own_redis.kill()
            await until(lambda: not hub.healthy)
            assert (await gql.http.get("/readyz")).status_code == 503
            # The write succeeds; its publish fails and is only logged.
            during = await enroll_eft(gql, tokens["s0"], "c1")

            own_redis.start()
            await until(lambda: hub.healthy, within=30)
            for (student, tab), op in zip(tabs, ops, strict=True):
                card = await card_of(tab, op, within=30)
                expected = ("Pending Approval", during["version"]) if student == "s0" else ("Enroll Now", 0)
                assert (card["buttonText"], card["version"]) == expected
            approved = await gql(APPROVE, {"id": during["id"]}, admin)
            assert approved["data"]["approveEnrollment"]["errors"] == []
            # The admin stream stayed open through the outage and carries later changes.
            event = (await console.next_data(events))["adminEnrollmentEvents"]
            assert (event["type"], event["enrollment"]["status"]) == ("STATUS_CHANGED", "APPROVED")
            for (student, tab), op in zip(tabs, ops, strict=True):
                if student == "s0":
                    assert (await card_of(tab, op))["buttonText"] == "Continue Course"
        await until(lambda: hub.stats().subscribers == 0)


async def test_connect_subscribe_disconnect_cycles_leave_nothing_behind(
    gql: GraphQLClient, running: RunningApp, redis_server: ManagedServer
) -> None:
    await create_course(gql, running, "c1")
    hub = running.app.runtime.hub
    cycles, workers = 1000, 10

    async def churn(worker: int) -> None:
        for i in range(cycles // workers):
            user = f"churn-{worker}-{i}"
            async with signed_in(running.ws_url, running.token(user), PROTOCOLS[i % 2]) as tab:
                op = await tab.subscribe(COURSE_CARD, {"courseId": "c1"})
                assert (await card_of(tab, op))["version"] == 0
                if i % 3 == 0:
                    tab.ws.transport.abort()  # gone without a close frame, like a killed tab

    await asyncio.gather(*(churn(w) for w in range(workers)))
    await until(lambda: hub.stats().subscribers == 0 and hub.stats().channels == 0)
    redis = Redis.from_url(redis_server.url)
    try:
        channels = await redis.pubsub_channels(f"{PREFIX}user:*")
    finally:
        await redis.aclose()
    assert channels == []


UPDATE_PRICE = """
mutation($id: ID!, $in: UpdateCourseInput!) { updateCourse(id: $id, input: $in) { errors { code } } }
"""


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tabs_closing_while_their_cards_change_leave_nothing_behind(
    gql: GraphQLClient, running: RunningApp, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A card frame sent as its tab closes fails on the closing socket: the operation still ends,
    unsubscribing from the hub, and nothing is logged at ERROR (a client leaving is no fault)."""
    await create_course(gql, running, "race")
    hub, admin = running.app.runtime.hub, running.token("admin-race", Role.ADMIN)
    prices = itertools.count(1001)

    async def change_prices(until_closed: asyncio.Event) -> None:
        while not until_closed.is_set():  # every price change sends each open tab a frame
            body = await gql(UPDATE_PRICE, {"id": "race", "in": {"price": next(prices)}}, admin)
            assert body["data"]["updateCourse"]["errors"] == []

    for _ in range(5):
        closed = asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            tabs = [
                await stack.enter_async_context(signed_in(running.ws_url, running.token(f"r{i}"), protocol))
                for i in range(20)
            ]
            for tab in tabs:
                await card_of(tab, await tab.subscribe(COURSE_CARD, {"courseId": "race"}))
            changes = asyncio.create_task(change_prices(closed))
            await asyncio.sleep(0.2)
        closed.set()
        await changes
        await until(lambda: hub.stats().subscribers == 0)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


# About 4 KiB a frame from one cheap field (the fake events carry a long payment reference), so the
# kernel's socket buffers (megabytes, autotuned) fill after a few hundred events: filling them costs
# bytes, not executions of a large selection set. The stalled socket must be read well within
# uvicorn's keepalive (a ping after 20 s, 20 s for its pong), which rightly closes a socket that
# reads nothing for that long: the resync this test reads would never come.
STALLED_EVENTS = "subscription { adminEnrollmentEvents { enrollment { id version paymentReference } } }"
BATCH = 50
# Events published with nothing dropped, after which the stalled socket's backlog counts as unbounded.
UNBOUNDED_AFTER = 5000
# A batch's round trip, from publishing to the reader's last event, while the stalled socket's writes
# wait: 0.03 to 0.5 s measured on a loaded 2-core machine, under 2 s with two busy loops beside it.
# A reader held up behind the stalled socket would wait for good: it never drains.
READER_BATCH_LIMIT = 5.0


def fake_change(n: int) -> bytes:
    now = datetime.now(UTC)
    enrollment = Enrollment(
        id=f"e{n}",
        user_id="flood",
        course_id="c1",
        status=EnrollmentStatus.AWAITING_APPROVAL,
        payment_method=PaymentMethod.EFT,
        full_price=Money(1000, "ZAR"),
        amount_due=Money(1000, "ZAR"),
        amount_paid=Money(0, "ZAR"),
        coupon=None,
        payment_reference=f"{n:08d}" * 500,
        rejection_reason=None,
        approved_by=None,
        version=n,
        created_at=now,
        updated_at=now,
        access=Access(AccessStatus.NOT_STARTED, 0, None, None),
        email=None,
    )
    return Envelope(EnrollmentChange(EventType.CREATED, enrollment, None, now)).encode()


async def test_a_client_that_never_reads_stays_bounded_and_never_delays_a_reader(
    gql: GraphQLClient, running: RunningApp
) -> None:
    await create_course(gql, running, "c1")
    hub, feeds = running.app.runtime.hub, running.app.runtime.feeds
    admin = running.token("admin-flood", Role.ADMIN)
    publisher = Redis.from_url(running.settings.redis_url or "")
    loop = asyncio.get_running_loop()
    stalling = ws_connect(running.ws_url, receive_buffer=4096)
    async with stalling as stalled, signed_in(running.ws_url, admin) as reader, publisher:
        # A client that reads nothing never sees the pong to its own keepalive ping, which queues
        # behind the frames it leaves unread: it would fail itself with 1011 after 40 s.
        assert stalled.ws.keepalive_task is not None
        stalled.ws.keepalive_task.cancel()
        await stalled.init(admin)
        stalled_op = await stalled.subscribe(STALLED_EVENTS)
        reader_op = await reader.subscribe(ADMIN_EVENTS)
        await until(lambda: hub.stats().subscribers == 2)
        published = 0

        async def publish_batch() -> float:
            """Seconds from publishing the next batch until the reader had all of it, in order."""
            nonlocal published
            started = loop.time()
            pipe = publisher.pipeline(transaction=False)
            for n in range(published, published + BATCH):
                pipe.publish(ADMIN_CHANNEL, fake_change(n))
            await pipe.execute()
            for n in range(published, published + BATCH):
                event = (await reader.next_data(reader_op))["adminEnrollmentEvents"]
                assert event["enrollment"]["version"] == n
            published += BATCH
            return loop.time() - started

        # Until the stalled socket's buffers (kernel, transport, its queue in the server) are full.
        while hub.stats().dropped + feeds.dropped == 0:
            assert published < UNBOUNDED_AFTER, "the server reports nothing dropped for the stalled socket"
            await publish_batch()
        filled = published
        # From here every event is dropped for the stalled socket, and the reader is timed.
        stalled_phase = [await publish_batch() for _ in range(10)]
        assert max(stalled_phase) < READER_BATCH_LIMIT, stalled_phase
        # What the stalled client gets when it reads at last: what was buffered before the server
        # began dropping for it, nothing published since, then the resync.
        received = 0
        while (message := await stalled.next_message(stalled_op))["type"] != "error":
            if message["payload"].get("errors"):
                assert message["payload"]["errors"][0]["extensions"]["code"] == "RESYNC_REQUIRED"
                break
            assert message["payload"]["data"]["adminEnrollmentEvents"]["enrollment"]["version"] < filled
            received += 1
        assert 0 < received < filled
