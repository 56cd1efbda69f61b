"""Coupon holds that lapse: at once by the clock, then released by the sweeper exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest

from domain import student_actions
from domain.changes import lapse_due_holds, record_change
from domain.enrollment import Action, Enrollment, EnrollmentStatus, HoldState, PaymentMethod
from domain.errors import DomainError, ErrorCode
from domain.events import EventType
from domain.ports import TransitionExtras
from domain.services import Services
from domain.viewer import Role, Viewer
from sandbox.embedded import ManagedServer
from tests import servers
from tests.servers import GraphQLClient, RunningApp, serve
from tests.store.conftest import ManualClock
from tests.usecases import enrolling

SETUP = """
mutation($course: CreateCourseInput!, $coupon: CreateCouponInput!) {
  createCourse(input: $course) { errors { code } }
  createCoupon(input: $coupon) { errors { code } }
}
"""
ENROLL = """
mutation($input: EnrollInput!) {
  enroll(input: $input) { enrollment { id status amountDue { amount } } errors { code } }
}
"""
ENROLLMENT = "query($id: ID!) { enrollment(id: $id) { amountDue { amount } version couponCode } }"
PRICE = 1000
ALICE, BOB = Viewer("alice", Role.STUDENT), Viewer("bob", Role.STUDENT)


@pytest.fixture
async def running(mongo_server: ManagedServer, redis_server: ManagedServer) -> AsyncIterator[RunningApp]:
    async with serve(servers.test_settings(mongo_server.url, redis_server.url, coupon_hold_seconds=1)) as app:
        yield app


@pytest.fixture
async def seeded(gql: GraphQLClient, running: RunningApp) -> None:
    variables = {
        "course": {"id": "c1", "title": "C1", "price": PRICE},
        "coupon": {"code": "ONLY", "percentOff": 50, "maxRedemptions": 1},
    }
    body = await gql(SETUP, variables, running.token("admin", Role.ADMIN))
    assert body["data"] == {"createCourse": {"errors": []}, "createCoupon": {"errors": []}}


def own_clock(running: RunningApp) -> tuple[Services, ManualClock]:
    """The app's own services on a clock a day ahead, so the app's sweeper never sees these holds due."""
    clock = ManualClock(datetime.now(UTC) + timedelta(days=1))
    return dataclasses.replace(running.app.runtime.services, clock=clock), clock


async def coupon_doc(running: RunningApp) -> dict[str, Any]:
    doc = await running.app.runtime.collections.coupons.find_one({"_id": "ONLY"})
    assert doc is not None
    return doc


async def uses(running: RunningApp, now: datetime) -> int:
    doc = await coupon_doc(running)
    return int(doc["redeemed"]) + sum(
        1 for h in doc["holds"] if h["expiresAt"] is None or h["expiresAt"] > now
    )


async def settle(services: Services, enrollment_id: str) -> Enrollment | None:
    """A paid-up card payment through the state machine: one conditional write, then the one place."""
    changed = await services.enrollments.apply_transition(
        enrollment_id, Action.SETTLE_PAYMENT, TransitionExtras(), now=services.clock.now()
    )
    if changed is not None:
        await record_change(services.changes, changed, EventType.STATUS_CHANGED, changed.previous_status)
    return changed


@pytest.mark.usefixtures("seeded")
async def test_lapsed_hold_frees_the_coupon_at_once_then_is_released_once(
    running: RunningApp, gql: GraphQLClient
) -> None:
    services, clock = own_clock(running)
    first = await student_actions.enroll(*enrolling(services), ALICE, "c1", PaymentMethod.CARD, "only")
    assert first.enrollment.amount_due.amount == PRICE // 2
    with pytest.raises(DomainError) as exhausted:
        await student_actions.enroll(*enrolling(services), BOB, "c1", PaymentMethod.CARD, "ONLY")
    assert exhausted.value.error.code is ErrorCode.COUPON_EXHAUSTED

    clock.advance(1.001)
    second = await student_actions.enroll(*enrolling(services), BOB, "c1", PaymentMethod.CARD, "ONLY")
    assert second.enrollment.amount_due.amount == PRICE // 2
    before_sweep = await coupon_doc(running)
    assert (before_sweep["lapsed"], len(before_sweep["holds"])) == (0, 2), "no sweeper has run yet"
    assert await uses(running, clock.now()) == 1

    assert await lapse_due_holds(services.changes) == 1
    swept = await coupon_doc(running)
    assert (swept["lapsed"], swept["released"], swept["redeemed"]) == (1, 0, 0)
    assert [h["enrollmentId"] for h in swept["holds"]] == [second.enrollment.id]
    assert await lapse_due_holds(services.changes) == 0
    assert await coupon_doc(running) == swept

    lapsed = await services.enrollments.get(first.enrollment.id)
    assert lapsed is not None and lapsed.coupon is not None
    assert (lapsed.amount_due.amount, lapsed.version, lapsed.coupon.state) == (PRICE, 2, HoldState.LAPSED)
    seen = await gql(ENROLLMENT, {"id": first.enrollment.id}, running.token("alice"))
    assert seen["data"]["enrollment"] == {"amountDue": {"amount": PRICE}, "version": 2, "couponCode": "ONLY"}

    # Her payment arriving later does not redeem the hold she lost.
    paid = await settle(services, first.enrollment.id)
    assert paid is not None and paid.status is EnrollmentStatus.APPROVED
    assert await uses(running, clock.now()) == 1
    assert (await coupon_doc(running))["redeemed"] == 0


@pytest.mark.usefixtures("seeded")
async def test_payment_after_lapse_but_before_the_sweep_stays_within_the_limit(running: RunningApp) -> None:
    services, clock = own_clock(running)
    first = await student_actions.enroll(*enrolling(services), ALICE, "c1", PaymentMethod.CARD, "ONLY")
    clock.advance(1.001)
    await student_actions.enroll(*enrolling(services), BOB, "c1", PaymentMethod.CARD, "ONLY")
    before = await coupon_doc(running)
    # Redeeming the overdue hold now would make two uses of a one-use coupon: refused, nothing written.
    assert await settle(services, first.enrollment.id) is None
    assert await coupon_doc(running) == before
    assert await lapse_due_holds(services.changes) == 1
    paid = await settle(services, first.enrollment.id)
    assert paid is not None and paid.coupon is not None and paid.coupon.state is HoldState.LAPSED
    assert paid.amount_due.amount == PRICE
    doc = await coupon_doc(running)
    assert (doc["redeemed"], doc["lapsed"], await uses(running, clock.now())) == (0, 1, 1)


@pytest.mark.usefixtures("seeded")
async def test_the_apps_own_sweeper_releases_a_lapsed_hold(
    running: RunningApp, gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    variables = {"input": {"courseId": "c1", "paymentMethod": "CARD", "couponCode": "only"}}
    first = (await gql(ENROLL, variables, running.token("alice")))["data"]["enroll"]
    assert first["errors"] == [] and first["enrollment"]["amountDue"] == {"amount": PRICE // 2}
    async with asyncio.timeout(15):
        while True:  # the app's own sweeper, on its one-second beat
            if (await coupon_doc(running))["lapsed"]:
                break
            await asyncio.sleep(0.05)
    again = (await gql(ENROLL, variables, running.token("bob")))["data"]["enroll"]
    assert again["errors"] == [] and again["enrollment"]["status"] == EnrollmentStatus.PENDING_PAYMENT
    seen = await gql(ENROLLMENT, {"id": first["enrollment"]["id"]}, running.token("alice"))
    assert seen["data"]["enrollment"]["amountDue"] == {"amount": PRICE}
    doc = await coupon_doc(running)
    assert (doc["lapsed"], doc["released"], doc["redeemed"]) == (1, 0, 0)
