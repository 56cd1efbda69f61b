"""courseCard and the event streams end to end: real uvicorn, real WebSocket clients, real Redis."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

import pytest

from domain.enrollment import EnrollmentStatus
from domain.events import EnrollmentChange, EventType
from domain.viewer import Role
from realtime.channels import user_channel
from realtime.envelope import Envelope
from tests.realtime.wsclient import (
    ADMIN_EVENTS,
    APPROVE,
    CANCEL,
    COURSE_CARD,
    MY_UPDATES,
    PROTOCOLS,
    card_of,
    create_course,
    enroll_eft,
    signed_in,
    until,
)
from tests.servers import GraphQLClient, RunningApp


async def test_fifty_tabs_of_one_student_get_the_first_state_and_the_next_change(
    gql: GraphQLClient, running: RunningApp
) -> None:
    await create_course(gql, running, "c1")
    token = running.token("many-tabs")
    async with contextlib.AsyncExitStack() as stack:
        opening = (stack.enter_async_context(signed_in(running.ws_url, token)) for _ in range(50))
        tabs = await asyncio.gather(*opening)
        ops = await asyncio.gather(*(tab.subscribe(COURSE_CARD, {"courseId": "c1"}) for tab in tabs))
        firsts = await asyncio.gather(*(card_of(tab, op) for tab, op in zip(tabs, ops, strict=True)))
        assert {(c["buttonText"], c["version"]) for c in firsts} == {("Enroll Now", 0)}

        enrollment = await enroll_eft(gql, token, "c1")
        nexts = await asyncio.gather(*(card_of(tab, op) for tab, op in zip(tabs, ops, strict=True)))
        expected = ("Pending Approval", enrollment["version"])
        assert {(c["buttonText"], c["version"]) for c in nexts} == {expected}

        hub = running.app.runtime.hub
        # Two inboxes per card: the course's notices and the student's own changes.
        assert (hub.stats().channels, hub.stats().subscribers) == (2, 100)
        await asyncio.gather(*(tab.unsubscribe(op) for tab, op in zip(tabs, ops, strict=True)))
        # Torn down on `complete` itself, while every socket is still open.
        await until(lambda: hub.stats().subscribers == 0)
        # Still usable: nothing broke on the server side of those sockets.
        pongs = await asyncio.gather(*(tab.ping() for tab in tabs))
        assert pongs == [{"type": "pong"}] * 50


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tabs_of_a_student_and_an_admin_console_follow_one_enrollment(
    gql: GraphQLClient, running: RunningApp, protocol: str
) -> None:
    await create_course(gql, running, "c1")
    alice, bob = running.token("alice"), running.token("bob")
    admin = running.token("admin-1", Role.ADMIN)
    url = running.ws_url
    async with (
        signed_in(url, alice, protocol) as tab1,
        signed_in(url, alice, protocol) as tab2,
        signed_in(url, bob, protocol) as bob_tab,
        signed_in(url, admin, protocol) as console,
    ):
        a1, a2 = (
            await tab1.subscribe(COURSE_CARD, {"courseId": "c1"}),
            await tab2.subscribe(COURSE_CARD, {"courseId": "c1"}),
        )
        b = await bob_tab.subscribe(COURSE_CARD, {"courseId": "c1"})
        events = await console.subscribe(ADMIN_EVENTS)
        mine = await tab1.subscribe(MY_UPDATES)
        for client, op in ((tab1, a1), (tab2, a2), (bob_tab, b)):
            assert (await card_of(client, op))["buttonText"] == "Enroll Now"

        enrollment = await enroll_eft(gql, alice, "c1")
        created = (await console.next_data(events))["adminEnrollmentEvents"]
        assert created["type"] == "CREATED"
        assert created["enrollment"]["id"] == enrollment["id"]
        assert created["enrollment"]["userId"] == "alice"
        pending = [await card_of(tab1, a1), await card_of(tab2, a2)]
        assert [c["buttonText"] for c in pending] == ["Pending Approval"] * 2
        assert (await tab1.next_data(mine))["myEnrollmentUpdates"]["type"] == "CREATED"

        approved = await gql(APPROVE, {"id": enrollment["id"]}, admin)
        assert approved["data"]["approveEnrollment"]["errors"] == []
        changed = (await console.next_data(events))["adminEnrollmentEvents"]
        assert (changed["type"], changed["previousStatus"]) == ("STATUS_CHANGED", "AWAITING_APPROVAL")
        for client, op, before in ((tab1, a1, pending[0]), (tab2, a2, pending[1])):
            card = await card_of(client, op)
            assert (card["buttonText"], card["hasAccess"]) == ("Continue Course", True)
            assert card["version"] > before["version"]
        update = (await tab1.next_data(mine))["myEnrollmentUpdates"]
        assert update["enrollment"]["status"] == "APPROVED"

        # Bob's first message after his snapshot is his own change: nothing of Alice's came first.
        own = await enroll_eft(gql, bob, "c1")
        bob_card = await card_of(bob_tab, b)
        assert bob_card["enrollment"] == {"id": own["id"], "status": "AWAITING_APPROVAL", "userId": "bob"}


async def test_since_version_skips_the_snapshot_only_when_nothing_changed(
    gql: GraphQLClient, running: RunningApp
) -> None:
    await create_course(gql, running, "c1")
    token = running.token("resumer")
    enrollment = await enroll_eft(gql, token, "c1")
    current = enrollment["version"]
    async with signed_in(running.ws_url, token) as tab:
        older = await tab.subscribe(COURSE_CARD, {"courseId": "c1", "since": current - 1})
        assert (await card_of(tab, older))["version"] == current
        same = await tab.subscribe(COURSE_CARD, {"courseId": "c1", "since": current})
        cancelled = await gql(CANCEL, {"id": enrollment["id"]}, token)
        assert cancelled["data"]["cancelEnrollment"]["errors"] == []
        # The first message on the resumed subscription is the later change, not a snapshot.
        first = await card_of(tab, same)
        assert (first["buttonText"], first["version"]) == ("Enroll Now", current + 1)
        assert (await card_of(tab, older))["version"] == current + 1


async def test_unknown_course_is_not_found_and_anonymous_viewers_get_the_snapshot(
    gql: GraphQLClient, running: RunningApp
) -> None:
    await create_course(gql, running, "c1")
    async with signed_in(running.ws_url, None) as anonymous:
        missing = await anonymous.subscribe(COURSE_CARD, {"courseId": "nope"})
        errors = await anonymous.next_errors(missing)
        assert errors[0]["extensions"]["code"] == "NOT_FOUND"
        op = await anonymous.subscribe(COURSE_CARD, {"courseId": "c1"})
        card = await card_of(anonymous, op)
        face = (card["buttonText"], card["action"], card["version"])
        assert face == ("Register To Enroll", "REDIRECT_TO_AUTH", 0)
        updates = await anonymous.subscribe(MY_UPDATES)
        assert (await anonymous.next_errors(updates))[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_version_jump_makes_the_server_reread_instead_of_trusting_the_event(
    gql: GraphQLClient, running: RunningApp
) -> None:
    """A forged event far ahead of the card is never shown as is: the server re-reads the database."""
    await create_course(gql, running, "c1")
    token = running.token("jumper")
    enrollment = await enroll_eft(gql, token, "c1")
    async with signed_in(running.ws_url, token) as tab:
        op = await tab.subscribe(COURSE_CARD, {"courseId": "c1"})
        assert (await card_of(tab, op))["version"] == enrollment["version"]
        services = running.app.runtime.services
        stored = await services.enrollments.get(enrollment["id"])
        assert stored is not None
        forged = replace(stored, version=stored.version + 5, status=EnrollmentStatus.APPROVED)
        change = EnrollmentChange(EventType.STATUS_CHANGED, forged, stored.status, services.clock.now())
        assert await running.app.runtime.hub.publish(user_channel("jumper"), Envelope(change).encode())
        await gql(CANCEL, {"id": enrollment["id"]}, token)
        card = await card_of(tab, op)
        assert (card["buttonText"], card["version"]) == ("Enroll Now", enrollment["version"] + 1)
