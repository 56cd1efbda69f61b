"""A fixed-amount coupon carries a currency: an "R50 off" coupon takes nothing off a USD course.

Over real HTTP against a real app and database: the refusal writes nothing (no enrollment, no
hold on the coupon), the same coupon works on a course priced in its own currency, and a
currency the school does not price in is refused wherever one is accepted.
"""

from __future__ import annotations

from typing import Any

import pytest

from domain.viewer import Role
from tests.servers import GraphQLClient, RunningApp

CREATE_COURSE = """
mutation($input: CreateCourseInput!) {
  createCourse(input: $input) { course { id price { amount currency } } errors { code field message } }
}
"""
CREATE_COUPON = """
mutation($input: CreateCouponInput!) {
  createCoupon(input: $input) {
    coupon { code amountOff { amount currency } percentOff }
    errors { code field message }
  }
}
"""
ENROLL = """
mutation($input: EnrollInput!) {
  enroll(input: $input) {
    enrollment { id status amountDue { amount currency } couponCode }
    errors { code field message }
  }
}
"""
COUPON = (
    "query($code: String!) { coupon(code: $code) { code reserved redeemed amountOff { amount currency } } }"
)
R50 = 50_00


async def admin(gql: GraphQLClient, running: RunningApp, query: str, variables: dict[str, Any]) -> Any:
    body = await gql(query, variables, running.token("admin", Role.ADMIN))
    assert "errors" not in body, body
    return body["data"]


async def course(gql: GraphQLClient, running: RunningApp, course_id: str, price: int, currency: str) -> None:
    variables = {"input": {"id": course_id, "title": course_id, "price": price, "currency": currency}}
    data = await admin(gql, running, CREATE_COURSE, variables)
    assert data["createCourse"]["errors"] == []


async def rand_coupon(gql: GraphQLClient, running: RunningApp, **extra: Any) -> dict[str, Any]:
    """R50 off, for many students; `extra` adds to the input (the currency, when given)."""
    variables = {"input": {"code": "R50OFF", "amountOff": R50, "maxRedemptions": 10, **extra}}
    payload: dict[str, Any] = (await admin(gql, running, CREATE_COUPON, variables))["createCoupon"]
    assert payload["errors"] == []
    return payload


async def enroll(gql: GraphQLClient, running: RunningApp, user: str, course_id: str) -> dict[str, Any]:
    variables = {"input": {"courseId": course_id, "paymentMethod": "CARD", "couponCode": "r50off"}}
    body = await gql(ENROLL, variables, running.token(user))
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["enroll"]
    return result


async def written(running: RunningApp) -> tuple[int, dict[str, Any]]:
    """How many enrollments exist, and the coupon's document as stored."""
    collections = running.app.runtime.collections
    doc = await collections.coupons.find_one({"_id": "R50OFF"})
    assert doc is not None
    return await collections.enrollments.count_documents({}), doc


@pytest.mark.parametrize("given", [{}, {"currency": "ZAR"}], ids=["default-ZAR", "explicit-ZAR"])
async def test_a_rand_coupon_is_refused_on_a_dollar_course_and_nothing_is_written(
    gql: GraphQLClient, running: RunningApp, given: dict[str, Any]
) -> None:
    await course(gql, running, "usd-course", 100_00, "USD")
    created = await rand_coupon(gql, running, **given)
    assert created["coupon"]["amountOff"] == {"amount": R50, "currency": "ZAR"}
    before = await written(running)

    result = await enroll(gql, running, "mallory", "usd-course")

    assert result["enrollment"] is None, f"R50 taken off a USD course: {result['enrollment']}"
    [error] = result["errors"]
    assert (error["code"], error["field"]) == ("VALIDATION_FAILED", "couponCode")
    assert "ZAR" in error["message"] and "USD" in error["message"]
    assert await written(running) == before
    assert before[0] == 0 and before[1]["holds"] == []
    seen = await gql(COUPON, {"code": "R50OFF"}, running.token("admin", Role.ADMIN))
    assert seen["data"]["coupon"] == {
        "code": "R50OFF",
        "reserved": 0,
        "redeemed": 0,
        "amountOff": {"amount": R50, "currency": "ZAR"},
    }


async def test_the_same_coupon_works_on_a_rand_course(gql: GraphQLClient, running: RunningApp) -> None:
    await course(gql, running, "usd-course", 100_00, "USD")
    await course(gql, running, "zar-course", 129_00, "ZAR")
    await rand_coupon(gql, running, currency="ZAR")
    refused = await enroll(gql, running, "alice", "usd-course")
    assert [e["code"] for e in refused["errors"]] == ["VALIDATION_FAILED"]

    result = await enroll(gql, running, "alice", "zar-course")

    assert result["errors"] == []
    assert result["enrollment"]["amountDue"] == {"amount": 129_00 - R50, "currency": "ZAR"}
    assert result["enrollment"]["couponCode"] == "R50OFF"
    count, doc = await written(running)
    assert count == 1 and [h["userId"] for h in doc["holds"]] == ["alice"]


async def test_a_dollar_coupon_works_on_a_dollar_course_only(gql: GraphQLClient, running: RunningApp) -> None:
    await course(gql, running, "usd-course", 100_00, "USD")
    await course(gql, running, "zar-course", 129_00, "ZAR")
    created = await rand_coupon(gql, running, currency="USD")  # the code says R50; the currency decides
    assert created["coupon"]["amountOff"] == {"amount": R50, "currency": "USD"}
    assert (await enroll(gql, running, "bob", "zar-course"))["errors"][0]["field"] == "couponCode"
    result = await enroll(gql, running, "bob", "usd-course")
    assert result["errors"] == [] and result["enrollment"]["amountDue"] == {
        "amount": 50_00,
        "currency": "USD",
    }


async def test_a_percent_coupon_works_in_any_currency(gql: GraphQLClient, running: RunningApp) -> None:
    await course(gql, running, "jpy-course", 10_000, "JPY")
    variables = {"input": {"code": "R50OFF", "percentOff": 10, "maxRedemptions": 10}}
    data = await admin(gql, running, CREATE_COUPON, variables)
    assert data["createCoupon"]["coupon"] == {"code": "R50OFF", "amountOff": None, "percentOff": 10}
    result = await enroll(gql, running, "carol", "jpy-course")
    assert result["errors"] == [] and result["enrollment"]["amountDue"] == {
        "amount": 9_000,
        "currency": "JPY",
    }


@pytest.mark.parametrize("currency", ["XYZ", "zar", "RAND", "", "ZA"])
async def test_create_course_refuses_an_unknown_currency(
    gql: GraphQLClient, running: RunningApp, currency: str
) -> None:
    variables = {"input": {"id": "c1", "title": "C1", "price": 100, "currency": currency}}
    data = await admin(gql, running, CREATE_COURSE, variables)
    assert data["createCourse"]["course"] is None
    [error] = data["createCourse"]["errors"]
    assert (error["code"], error["field"]) == ("VALIDATION_FAILED", "currency")
    assert await running.app.runtime.collections.courses.count_documents({}) == 0


async def test_create_coupon_refuses_an_unknown_currency(gql: GraphQLClient, running: RunningApp) -> None:
    variables = {"input": {"code": "R50OFF", "amountOff": R50, "maxRedemptions": 1, "currency": "XYZ"}}
    data = await admin(gql, running, CREATE_COUPON, variables)
    [error] = data["createCoupon"]["errors"]
    assert (error["code"], error["field"]) == ("VALIDATION_FAILED", "currency")
    assert await running.app.runtime.collections.coupons.count_documents({}) == 0
