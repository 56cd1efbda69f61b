"""A coupon's fixed amount is held only for a price in its currency, inside the one reservation write.

Documents stored before coupons carried a currency have no `currency` field: read as ZAR.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain import catalogue, student_actions
from domain.enrollment import PaymentMethod
from domain.errors import DomainError, ErrorCode
from domain.money import Money
from domain.viewer import Role, Viewer
from tests.store.conftest import StoreEnv
from tests.usecases import enrolling

HOLD = timedelta(minutes=15)


async def reserve(env: StoreEnv, code: str, user: str, currency: str) -> bool:
    now = env.clock.now()
    eid = env.services.enrollments.new_id()
    return await env.services.coupons.reserve(code, eid, user, now, now + HOLD, currency) is not None


async def coupons(env: StoreEnv) -> list[dict[str, Any]]:
    return [d async for d in env.collections.coupons.find({})]


def legacy(code: str, **discount: int | None) -> dict[str, Any]:
    """A coupon document as stored before this change: no `currency` field at all."""
    return {
        "_id": code,
        "maxRedemptions": 5,
        "expiresAt": None,
        "redeemed": 0,
        "redeemedBy": [],
        "holds": [],
        "released": 0,
        "lapsed": 0,
        "percentOff": None,
        "amountOff": None,
    } | discount


async def test_the_reservation_itself_refuses_another_currency(store: StoreEnv) -> None:
    await catalogue.create_coupon(store.services.coupons, "R50", None, 50_00, 5, None, "ZAR")
    before = await coupons(store)
    assert before[0]["currency"] == "ZAR" and before[0]["amountOff"] == 50_00
    assert not await reserve(store, "R50", "u1", "USD")
    assert await coupons(store) == before
    assert await reserve(store, "R50", "u1", "ZAR")


async def test_a_percent_coupon_is_held_in_any_currency(store: StoreEnv) -> None:
    await catalogue.create_coupon(store.services.coupons, "TEN", 10, None, 5, None, "ZAR")
    assert (await coupons(store))[0]["currency"] is None
    assert await reserve(store, "TEN", "u1", "USD")
    assert await reserve(store, "TEN", "u2", "JPY")


async def test_a_legacy_fixed_amount_coupon_is_read_and_held_as_rand(store: StoreEnv) -> None:
    await store.collections.coupons.insert_one(legacy("OLDR50", amountOff=50_00))
    found = await store.services.coupons.get_coupon("OLDR50", store.clock.now())
    assert found is not None and found.amount_off == Money(50_00, "ZAR")
    assert not await reserve(store, "OLDR50", "u1", "USD")
    assert await reserve(store, "OLDR50", "u1", "ZAR")


async def test_a_legacy_percent_coupon_is_held_in_any_currency(store: StoreEnv) -> None:
    await store.collections.coupons.insert_one(legacy("OLDTEN", percentOff=10))
    found = await store.services.coupons.get_coupon("OLDTEN", store.clock.now())
    assert found is not None and found.amount_off is None and found.percent_off == 10
    assert await reserve(store, "OLDTEN", "u1", "USD")


@pytest.mark.parametrize("stored", ["new", "legacy"])
async def test_enroll_with_a_rand_coupon_on_a_dollar_course_writes_nothing(
    store: StoreEnv, stored: str
) -> None:
    services = store.services
    await catalogue.create_course(services.courses, "usd", "Dollars", 100_00, "USD", True, "x")
    await catalogue.create_course(services.courses, "zar", "Rand", 129_00, "ZAR", True, "x")
    if stored == "new":
        await catalogue.create_coupon(services.coupons, "R50", None, 50_00, 5, None)
    else:
        await store.collections.coupons.insert_one(legacy("R50", amountOff=50_00))
    before = await coupons(store)
    student = Viewer("u1", Role.STUDENT)
    with pytest.raises(DomainError) as caught:
        await student_actions.enroll(*enrolling(services), student, "usd", PaymentMethod.CARD, "r50")
    error = caught.value.error
    assert (error.code, error.field) == (ErrorCode.VALIDATION_FAILED, "couponCode")
    assert error.message == "this coupon takes 50.00 ZAR off; it cannot be used on a course priced in USD"
    assert await coupons(store) == before
    assert await store.collections.enrollments.count_documents({}) == 0

    done = await student_actions.enroll(*enrolling(services), student, "zar", PaymentMethod.CARD, "R50")
    assert done.enrollment.amount_due == Money(79_00, "ZAR") and done.enrollment.coupon is not None
