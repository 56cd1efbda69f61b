"""updateCourse and disableCoupon: a course change reaches every open card of the course, an
enrollment keeps the amount it was created with, a withdrawn coupon refuses new holds and leaves
the existing ones to the usual rules; each change is audited once."""

from __future__ import annotations

import contextlib
from typing import Any

from domain.viewer import Role
from tests.api.test_coupon_hold import SETUP
from tests.realtime.wsclient import APPROVE, signed_in, ws_connect
from tests.servers import GraphQLClient, RunningApp

CARD = """
subscription($c: ID!) {
  courseCard(courseId: $c) { version buttonText course { title price { amount } } enrollment { id } }
}
"""
UPDATE = """
mutation($id: ID!, $input: UpdateCourseInput!) {
  updateCourse(id: $id, input: $input) {
    course { id title price { amount currency } published } errors { code field }
  }
}
"""
ENROLL = """
mutation($input: EnrollInput!) {
  enroll(input: $input) { enrollment { id amountDue { amount } couponCode } errors { code message } }
}
"""
DISABLE = """
mutation($code: String!) {
  disableCoupon(code: $code) { coupon { code disabledAt reserved } errors { code } }
}
"""
COUPONS = """
query($after: String) {
  coupons(first: 2, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { code disabledAt redeemed } }
  }
}
"""
AMOUNT = "query($id: ID!) { enrollment(id: $id) { amountDue { amount } status } }"


async def setup(gql: GraphQLClient, running: RunningApp, course: str, coupon: str) -> None:
    variables = {
        "course": {"id": course, "title": "Before", "price": 1000},
        "coupon": {"code": coupon, "percentOff": 50, "maxRedemptions": 5},
    }
    body = await gql(SETUP, variables, running.token("admin-setup", Role.ADMIN))
    assert body["data"] == {"createCourse": {"errors": []}, "createCoupon": {"errors": []}}, body


async def enroll(
    gql: GraphQLClient, running: RunningApp, user: str, course: str, coupon: str | None
) -> dict[str, Any]:
    variables = {"input": {"courseId": course, "paymentMethod": "EFT", "couponCode": coupon}}
    payload: dict[str, Any] = (await gql(ENROLL, variables, running.token(user)))["data"]["enroll"]
    return payload


async def test_a_price_change_reaches_every_open_card_and_no_enrollment(
    gql: GraphQLClient, running: RunningApp
) -> None:
    await setup(gql, running, "live-price", "LIVEPRICE")
    mine = (await enroll(gql, running, "stu-price", "live-price", None))["enrollment"]
    admin = running.token("admin-price", Role.ADMIN)
    async with contextlib.AsyncExitStack() as stack:
        tab1 = await stack.enter_async_context(signed_in(running.ws_url, running.token("stu-price")))
        tab2 = await stack.enter_async_context(signed_in(running.ws_url, running.token("stu-price")))
        anonymous = await stack.enter_async_context(ws_connect(running.ws_url))
        await anonymous.init()
        tabs = [(tab, await tab.subscribe(CARD, {"c": "live-price"})) for tab in (tab1, tab2, anonymous)]
        first = [(await tab.next_data(op))["courseCard"] for tab, op in tabs]
        assert [c["course"]["price"]["amount"] for c in first] == [1000] * 3

        body = await gql(UPDATE, {"id": "live-price", "input": {"price": 2500, "title": "After"}}, admin)
        assert body["data"]["updateCourse"]["errors"] == [], body
        cards = [(await tab.next_data(op))["courseCard"] for tab, op in tabs]
        assert [(c["course"]["title"], c["course"]["price"]["amount"]) for c in cards] == [
            ("After", 2500)
        ] * 3
        # The same enrollment at the same version: only the course changed.
        assert [(c["version"], c["enrollment"]) for c in cards] == [
            (c["version"], c["enrollment"]) for c in first
        ]

    shown = (await gql(AMOUNT, {"id": mine["id"]}, admin))["data"]["enrollment"]
    assert shown["amountDue"]["amount"] == 1000
    # A new enrollment takes the new price.
    later = (await enroll(gql, running, "stu-price-2", "live-price", None))["enrollment"]
    assert later["amountDue"]["amount"] == 2500

    audit = running.app.runtime.collections.audit
    entries = [doc async for doc in audit.find({"action": "updateCourse"})]
    assert [(doc["actor"]["id"], doc["targetId"]) for doc in entries] == [("admin-price", "live-price")]
    course_doc = await running.app.runtime.collections.courses.find_one({"_id": "live-price"})
    assert course_doc is not None and course_doc["auditOutbox"] == []  # copied to the log


async def test_course_changes_refuse_bad_input_and_change_nothing(
    gql: GraphQLClient, running: RunningApp
) -> None:
    await setup(gql, running, "bad-change", "BADCHANGE")
    admin = running.token("admin-bad", Role.ADMIN)
    cases = [
        ("bad-change", {}, "VALIDATION_FAILED"),
        ("bad-change", {"price": -1}, "VALIDATION_FAILED"),
        ("bad-change", {"title": "  "}, "VALIDATION_FAILED"),
        ("bad-change", {"currency": "XXQ"}, "VALIDATION_FAILED"),
        ("no-such-course", {"price": 5}, "COURSE_NOT_FOUND"),
        ("bad id!", {"price": 5}, "COURSE_NOT_FOUND"),
    ]
    for course_id, changes, code in cases:
        body = await gql(UPDATE, {"id": course_id, "input": changes}, admin)
        assert [e["code"] for e in body["data"]["updateCourse"]["errors"]] == [code], (changes, body)
    doc = await running.app.runtime.collections.courses.find_one({"_id": "bad-change"})
    assert doc is not None and (doc["title"], doc["price"], doc.get("revision")) == ("Before", 1000, None)
    assert await running.app.runtime.collections.audit.count_documents({"action": "updateCourse"}) == 0


async def test_unpublishing_ends_the_open_cards(gql: GraphQLClient, running: RunningApp) -> None:
    await setup(gql, running, "unpublished", "UNPUB")
    async with ws_connect(running.ws_url) as anonymous:
        await anonymous.init()
        op = await anonymous.subscribe(CARD, {"c": "unpublished"})
        await anonymous.next_data(op)
        await gql(
            UPDATE, {"id": "unpublished", "input": {"published": False}}, running.token("a", Role.ADMIN)
        )
        errors = await anonymous.next_errors(op)
        assert [e["extensions"]["code"] for e in errors] == ["NOT_FOUND"]


async def test_a_withdrawn_coupon_refuses_new_holds_and_keeps_the_old_ones(
    gql: GraphQLClient, running: RunningApp
) -> None:
    await setup(gql, running, "withdrawn", "LEAKED")
    admin = running.token("admin-coupon", Role.ADMIN)
    held = await enroll(gql, running, "stu-held", "withdrawn", "LEAKED")
    assert held["errors"] == [] and held["enrollment"]["amountDue"]["amount"] == 500

    for _ in range(2):  # withdrawing twice is withdrawing once
        body = await gql(DISABLE, {"code": "leaked"}, admin)
        coupon = body["data"]["disableCoupon"]
        assert coupon["errors"] == [] and coupon["coupon"]["disabledAt"] is not None, body
        assert coupon["coupon"]["reserved"] == 1
    refused = await enroll(gql, running, "stu-late", "withdrawn", "LEAKED")
    assert [(e["code"], e["message"]) for e in refused["errors"]] == [
        ("COUPON_EXPIRED", "this coupon has been withdrawn")
    ]

    # The hold taken before stays and is redeemed on approval as usual.
    body = await gql(APPROVE, {"id": held["enrollment"]["id"]}, admin)
    assert body["data"]["approveEnrollment"]["errors"] == [], body
    coupon_doc = await running.app.runtime.collections.coupons.find_one({"_id": "LEAKED"})
    assert coupon_doc is not None and coupon_doc["redeemed"] == 1

    audit = running.app.runtime.collections.audit
    assert [doc["targetId"] async for doc in audit.find({"action": "disableCoupon"})] == ["LEAKED"]
    missing = await gql(DISABLE, {"code": "nope"}, admin)
    assert [e["code"] for e in missing["data"]["disableCoupon"]["errors"]] == ["COUPON_NOT_FOUND"]


async def test_the_coupon_list_pages_by_code(gql: GraphQLClient, running: RunningApp) -> None:
    admin = running.token("admin-list", Role.ADMIN)
    for code in ("LIST-C", "LIST-A", "LIST-B"):
        mutation = "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { errors { code } } }"
        await gql(mutation, {"i": {"code": code, "percentOff": 10, "maxRedemptions": 1}}, admin)
    await gql(DISABLE, {"code": "LIST-B"}, admin)
    seen: list[tuple[str, bool]] = []
    after = None
    while True:
        page = (await gql(COUPONS, {"after": after}, admin))["data"]["coupons"]
        assert page["totalCount"] == 3
        seen += [(e["node"]["code"], e["node"]["disabledAt"] is not None) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [("LIST-A", False), ("LIST-B", True), ("LIST-C", False)]
    bad = await gql(COUPONS, {"after": "%%%"}, admin)
    assert [e["extensions"]["code"] for e in bad["errors"]] == ["VALIDATION_FAILED"]
