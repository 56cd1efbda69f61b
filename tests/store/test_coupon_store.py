"""Coupon holds: one conditional update each, counted against the clock, settled once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from domain import admin_actions, catalogue, student_actions
from domain.changes import lapse_due_holds, settle_effects
from domain.enrollment import EnrollmentStatus, HoldState, PaymentMethod
from domain.errors import DomainError, ErrorCode
from domain.services import Services
from domain.viewer import Role, Viewer
from tests.store.conftest import StoreEnv
from tests.usecases import enrolling

HOLD = timedelta(minutes=15)


async def coupon_doc(env: StoreEnv, code: str) -> dict[str, Any]:
    doc = await env.collections.coupons.find_one({"_id": code})
    assert doc is not None
    return doc


def live_holds(env: StoreEnv, doc: dict[str, Any]) -> int:
    now = env.clock.now()
    return sum(1 for h in doc["holds"] if h["expiresAt"] is None or h["expiresAt"] > now)


async def reserve(env: StoreEnv, code: str, user: str) -> bool:
    now = env.clock.now()
    eid = env.services.enrollments.new_id()
    return await env.services.coupons.reserve(code, eid, user, now, now + HOLD, "ZAR") is not None


async def seed(services: Services, *, max_redemptions: int = 1, percent_off: int = 50) -> None:
    await catalogue.create_course(services.courses, "c1", "Course 1", 1000, "ZAR", True, "x")
    await catalogue.create_course(services.courses, "c2", "Course 2", 1000, "ZAR", True, "x")
    await catalogue.create_coupon(services.coupons, "SCARCE", percent_off, None, max_redemptions, None)


async def test_concurrent_reservations_never_exceed_the_limit(store: StoreEnv) -> None:
    await seed(store.services, max_redemptions=5)
    results = await asyncio.gather(*(reserve(store, "SCARCE", f"u{i}") for i in range(60)))
    doc = await coupon_doc(store, "SCARCE")
    assert sum(results) == 5
    assert doc["redeemed"] + live_holds(store, doc) == 5


async def test_one_user_holds_a_coupon_once(store: StoreEnv) -> None:
    await seed(store.services, max_redemptions=5)
    assert await reserve(store, "SCARCE", "u1")
    assert not await reserve(store, "SCARCE", "u1")


async def test_a_lapsed_hold_stops_counting_at_once(store: StoreEnv) -> None:
    await seed(store.services)
    assert await reserve(store, "SCARCE", "u1")
    assert not await reserve(store, "SCARCE", "u2")
    store.clock.advance(HOLD.total_seconds())
    # No sweeper ran: the reservation's filter compares with the clock itself.
    assert await reserve(store, "SCARCE", "u2")
    doc = await coupon_doc(store, "SCARCE")
    assert (len(doc["holds"]), live_holds(store, doc), doc["lapsed"]) == (2, 1, 0)


async def test_settling_twice_changes_nothing_the_second_time(store: StoreEnv) -> None:
    services = store.services
    await seed(services, max_redemptions=3)
    student, admin = Viewer("u1", Role.STUDENT), Viewer("a1", Role.ADMIN)
    eft = await student_actions.enroll(*enrolling(services), student, "c1", PaymentMethod.EFT, "scarce")
    approved = await admin_actions.approve(services.changes, admin, eft.enrollment.id)
    assert approved.coupon is not None and approved.coupon.state is HoldState.REDEEMED
    other = await student_actions.enroll(
        *enrolling(services), Viewer("u2", Role.STUDENT), "c1", PaymentMethod.EFT, "SCARCE"
    )
    rejected = await admin_actions.reject(services.changes, admin, other.enrollment.id, "full")
    once = await coupon_doc(store, "SCARCE")
    assert (once["redeemed"], once["released"], once["holds"]) == (1, 1, [])
    # A crashed request's outbox replayed: both settlements are no-ops now.
    await settle_effects(services.changes, [approved, rejected])
    assert await coupon_doc(store, "SCARCE") == once
    assert not await services.coupons.redeem_hold("SCARCE", approved.id, "u1")
    assert not await services.coupons.release_hold("SCARCE", rejected.id, lapsed=False)


async def test_an_eft_hold_waits_for_the_admin(store: StoreEnv) -> None:
    services = store.services
    await seed(services)
    eft = await student_actions.enroll(
        *enrolling(services), Viewer("u1", Role.STUDENT), "c1", PaymentMethod.EFT, "SCARCE"
    )
    assert eft.enrollment.status is EnrollmentStatus.AWAITING_APPROVAL
    store.clock.advance(HOLD.total_seconds() * 10)
    assert await lapse_due_holds(services.changes) == 0
    doc = await coupon_doc(store, "SCARCE")
    assert doc["holds"][0]["expiresAt"] is None
    assert not await reserve(store, "SCARCE", "u2")


async def test_a_used_coupon_counts_across_courses(store: StoreEnv) -> None:
    services = store.services
    await seed(services, max_redemptions=5)
    student = Viewer("u1", Role.STUDENT)
    await student_actions.enroll(*enrolling(services), student, "c1", PaymentMethod.CARD, "SCARCE")
    with pytest.raises(DomainError) as caught:
        await student_actions.enroll(*enrolling(services), student, "c2", PaymentMethod.CARD, "SCARCE")
    assert caught.value.error.code is ErrorCode.COUPON_ALREADY_USED


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("NOPE", ErrorCode.COUPON_NOT_FOUND),
        ("OLD", ErrorCode.COUPON_EXPIRED),
        ("GONE", ErrorCode.COUPON_EXHAUSTED),
    ],
)
async def test_refused_coupons_write_nothing(store: StoreEnv, code: str, expected: ErrorCode) -> None:
    services = store.services
    await seed(services)
    past = store.clock.now() - timedelta(seconds=1)
    await catalogue.create_coupon(services.coupons, "OLD", 10, None, 5, past)
    await catalogue.create_coupon(services.coupons, "GONE", 10, None, 1, None)
    await student_actions.enroll(
        *enrolling(services), Viewer("first", Role.STUDENT), "c1", PaymentMethod.EFT, "GONE"
    )
    coupons_before = [d async for d in store.collections.coupons.find({})]
    with pytest.raises(DomainError) as caught:
        await student_actions.enroll(
            *enrolling(services), Viewer("u1", Role.STUDENT), "c2", PaymentMethod.CARD, code
        )
    assert caught.value.error.code is expected
    assert [d async for d in store.collections.coupons.find({})] == coupons_before
    assert await store.collections.enrollments.count_documents({"userId": "u1"}) == 0
