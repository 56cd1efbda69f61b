"""`/metrics` over real HTTP: a known flow moves every counter by exactly its share.

Coupons (reserved, exhausted, already used, unknown, expired), webhook deliveries (processed,
duplicate, bad signature, malformed, unknown reference), an admin approval and a paid card
enrollment whose jobs run against the sandbox LMS, two subscriptions open over WebSocket.
The flow is scraped before and after; every sample of the families below that moved must be
in `expected`, and everything in `expected` must have moved by exactly that much.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
from prometheus_client.parser import text_string_to_metric_families

from domain.viewer import Role
from tests.api.webhook_support import URL, encode, event, signed_headers
from tests.realtime.wsclient import WsClient, signed_in
from tests.servers import GraphQLClient, RunningApp

Key = tuple[str, frozenset[tuple[str, str]]]
Samples = dict[Key, float]

FAMILIES = (
    "enrollwire_coupon_reservations_total",
    "enrollwire_webhook_deliveries_total",
    "enrollwire_job_attempts_total",
    "enrollwire_jobs",
    "enrollwire_realtime_published_total",
    "enrollwire_realtime_received_total",
    "enrollwire_realtime_dropped_total",
    "enrollwire_realtime_publish_failures_total",
    "enrollwire_realtime_reconnects_total",
    "enrollwire_websockets_open",
    "enrollwire_subscriptions_active",
    "enrollwire_graphql_operations_total",
    "enrollwire_graphql_operation_seconds_count",
)

SETUP = """
mutation Setup($course: CreateCourseInput!) { createCourse(input: $course) { errors { code } } }
"""
COUPON = """
mutation SetupCoupon($coupon: CreateCouponInput!) { createCoupon(input: $coupon) { errors { code } } }
"""
ENROLL = """
mutation Enroll($input: EnrollInput!) {
  enroll(input: $input) { enrollment { id status } payment { reference } errors { code } }
}
"""
PROBE = """
mutation Probe($input: EnrollInput!) { enroll(input: $input) { enrollment { id } errors { code } } }
"""
APPROVE = """
mutation Approve($id: ID!) { approveEnrollment(enrollmentId: $id) { enrollment { status } errors { code } } }
"""
ADMIN_EVENTS = "subscription AdminEvents { adminEnrollmentEvents { type enrollment { id status version } } }"
CARD = """
subscription Card($courseId: ID!) { courseCard(courseId: $courseId) { version hasAccess } }
"""


def key(name: str, **labels: str) -> Key:
    return name, frozenset(labels.items())


async def scrape(http: httpx.AsyncClient) -> Samples:
    response = await http.get("/metrics")
    assert response.status_code == 200
    return {
        key(sample.name, **sample.labels): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def scrape_until(
    http: httpx.AsyncClient, condition: Callable[[Samples], bool], within: float = 60
) -> Samples:
    """Scrapes until `condition` holds; the counters are the only signal some steps give."""
    async with asyncio.timeout(within):
        while not condition(samples := await scrape(http)):  # noqa: ASYNC110  (no push signal)
            await asyncio.sleep(0.05)
    return samples


def moved(before: Samples, after: Samples) -> dict[Key, float]:
    return {
        k: after.get(k, 0.0) - before.get(k, 0.0)
        for k in before.keys() | after.keys()
        if k[0] in FAMILIES and after.get(k, 0.0) != before.get(k, 0.0)
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def enroll(
    gql: GraphQLClient, token: str, course: str, method: str, coupon: str | None
) -> dict[str, Any]:
    variables = {"input": {"courseId": course, "paymentMethod": method, "couponCode": coupon}}
    payload: dict[str, Any] = (await gql(ENROLL, variables, token))["data"]["enroll"]
    return payload


async def refused(gql: GraphQLClient, token: str, course: str, coupon: str) -> str:
    payload = await enroll(gql, token, course, "EFT", coupon)
    assert payload["enrollment"] is None, payload
    return str(payload["errors"][0]["code"])


async def events(client: WsClient, op: str, count: int) -> list[dict[str, Any]]:
    return [(await client.next_data(op, within=30))["adminEnrollmentEvents"] for _ in range(count)]


async def test_a_flow_moves_every_counter_by_exactly_its_share(
    running: RunningApp, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    admin = running.token("admin-m", Role.ADMIN)
    s1, s2, s3 = (running.token(f"metrics-s{n}", email=f"s{n}@example.com") for n in (1, 2, 3))
    for course, price in (("mc-1", 1000), ("mc-2", 2000)):
        created = await gql(SETUP, {"course": {"id": course, "title": course, "price": price}}, admin)
        assert created["data"]["createCourse"]["errors"] == []
    expired = {"maxRedemptions": 5, "expiresAt": "2020-01-01T00:00:00Z"}
    for code, extra in (("TWO", {"maxRedemptions": 2}), ("OLD", expired)):
        made = await gql(COUPON, {"coupon": {"code": code, "percentOff": 10, **extra}}, admin)
        assert made["data"]["createCoupon"]["errors"] == []
    before_sockets = await scrape(http)

    async with (
        signed_in(running.ws_url, admin) as console,
        signed_in(running.ws_url, s1) as tab,
    ):
        feed = await console.subscribe(ADMIN_EVENTS)
        card = await tab.subscribe(CARD, {"courseId": "mc-1"})
        assert (await tab.next_data(card))["courseCard"]["version"] == 0
        # A change before the baseline proves the admin stream is live.
        probe = await gql(
            PROBE, {"input": {"courseId": "mc-2", "paymentMethod": "EFT"}}, running.token("probe")
        )
        assert (await events(console, feed, 1))[0]["type"] == "CREATED", probe
        # Its notice (an EFT enrollment's reference) is sent before the baseline too.
        await scrape_until(http, lambda s: total(s, "enrollwire_job_attempts_total") == 1)
        before = await scrape(http)

        mine = await enroll(gql, s1, "mc-1", "EFT", "TWO")
        paid = await enroll(gql, s2, "mc-2", "CARD", "TWO")
        assert mine["errors"] == [] == paid["errors"]
        assert await refused(gql, s3, "mc-1", "TWO") == "COUPON_EXHAUSTED"
        assert await refused(gql, s1, "mc-2", "TWO") == "COUPON_ALREADY_USED"
        assert await refused(gql, s3, "mc-1", "NOPE") == "COUPON_NOT_FOUND"
        assert await refused(gql, s3, "mc-1", "OLD") == "COUPON_EXPIRED"

        body = encode(event(paid["payment"]["reference"], 1800, event_id="evt-metrics-1"))
        answers = [
            await http.post(URL, content=body, headers=signed_headers(body)),
            await http.post(URL, content=body, headers=signed_headers(body)),
            await http.post(URL, content=body, headers=signed_headers(body, secret="not-the-secret")),
            await http.post(URL, content=b'{"id": 1}', headers=signed_headers(b'{"id": 1}')),
            await http.post(URL, content=(o := encode(event("pay_unknown", 100))), headers=signed_headers(o)),
        ]
        assert [a.status_code for a in answers] == [200, 200, 401, 400, 404]
        assert [answers[0].json()["status"], answers[1].json()["status"]] == ["processed", "duplicate"]

        approved = await gql(APPROVE, {"id": mine["enrollment"]["id"]}, admin)
        assert approved["data"]["approveEnrollment"]["errors"] == []

        # Created x2, approved x2 (webhook, admin), access provisioned x2 (jobs on the sandbox LMS).
        seen = await events(console, feed, 6)
        assert sorted(e["enrollment"]["status"] for e in seen).count("APPROVED") == 4, seen
        while not (await tab.next_data(card, within=30))["courseCard"]["hasAccess"]:
            pass
        # The probe's notice, then two accesses and five notices (s1's reference, two approvals,
        # two accesses ready).
        await scrape_until(http, lambda s: total(s, "enrollwire_job_attempts_total") == 8)

    def closed(s: Samples) -> bool:
        return (
            s.get(key("enrollwire_websockets_open"), -1)
            == before_sockets.get(key("enrollwire_websockets_open"))
            and total(s, "enrollwire_subscriptions_active") == 0
            and total(s, "enrollwire_graphql_operations_total", type="subscription") == 2
        )

    after = await scrape_until(http, closed)

    assert moved(before_sockets, before) == {
        key("enrollwire_websockets_open"): 2,
        key("enrollwire_subscriptions_active", field="adminEnrollmentEvents"): 1,
        key("enrollwire_subscriptions_active", field="courseCard"): 1,
        # The probe: one change, to its owner's channel and the admins' (only that one is watched).
        key("enrollwire_graphql_operations_total", operation="enroll", type="mutation", outcome="ok"): 1,
        key("enrollwire_graphql_operation_seconds_count", operation="enroll", type="mutation"): 1,
        # ... and its notice, sent.
        key("enrollwire_job_attempts_total", kind="notify_student", result="succeeded"): 1,
        key("enrollwire_jobs", status="succeeded"): 1,
        # Handed to a shared feed, the admins' subscription is counted once it is set up.
        key(
            "enrollwire_graphql_operations_total",
            operation="adminEnrollmentEvents",
            type="subscription",
            outcome="ok",
        ): 1,
        key("enrollwire_realtime_published_total"): 2,
        key("enrollwire_realtime_received_total"): 1,
    }

    ops = "enrollwire_graphql_operations_total"
    seconds = "enrollwire_graphql_operation_seconds_count"
    assert moved(before, after) == {
        key("enrollwire_coupon_reservations_total", outcome="reserved"): 2,
        key("enrollwire_coupon_reservations_total", outcome="exhausted"): 1,
        key("enrollwire_coupon_reservations_total", outcome="already_used"): 1,
        key("enrollwire_coupon_reservations_total", outcome="not_found"): 1,
        key("enrollwire_coupon_reservations_total", outcome="expired"): 1,
        key("enrollwire_webhook_deliveries_total", outcome="processed"): 1,
        key("enrollwire_webhook_deliveries_total", outcome="duplicate"): 1,
        key("enrollwire_webhook_deliveries_total", outcome="bad_signature"): 1,
        key("enrollwire_webhook_deliveries_total", outcome="malformed"): 1,
        key("enrollwire_webhook_deliveries_total", outcome="unknown_reference"): 1,
        key("enrollwire_job_attempts_total", kind="provision_access", result="succeeded"): 2,
        key("enrollwire_job_attempts_total", kind="notify_student", result="succeeded"): 5,
        key("enrollwire_jobs", status="succeeded"): 7,
        # The card enrollment's reconciliation: paid by then, its first run (2 min on) finds so.
        key("enrollwire_jobs", status="pending"): 1,
        # Six changes, each to the owner's channel and the admins'.
        key("enrollwire_realtime_published_total"): 12,
        # All six on the admins' channel, three on metrics-s1's (its tab is subscribed).
        key("enrollwire_realtime_received_total"): 9,
        key("enrollwire_websockets_open"): -2,
        key("enrollwire_subscriptions_active", field="adminEnrollmentEvents"): -1,
        key("enrollwire_subscriptions_active", field="courseCard"): -1,
        key(ops, operation="enroll", type="mutation", outcome="ok"): 6,
        key(ops, operation="approveEnrollment", type="mutation", outcome="ok"): 1,
        key(ops, operation="courseCard", type="subscription", outcome="ok"): 1,
        key(seconds, operation="enroll", type="mutation"): 6,
        key(seconds, operation="approveEnrollment", type="mutation"): 1,
    }
    sum_key = key("enrollwire_graphql_operation_seconds_sum", operation="enroll", type="mutation")
    assert after[sum_key] > before.get(sum_key, 0.0)


async def test_the_parse_validate_and_token_caches_report_their_hits(
    running: RunningApp, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    name = "enrollwire_cache_lookups_total"
    token = running.token("metrics-cache")
    query = "query CacheProbe { __typename }"
    before = await scrape(http)
    for _ in range(3):
        assert (await gql(query, {}, token))["data"] == {"__typename": "Query"}
    after = await scrape(http)

    def change(cache: str, result: str) -> float:
        return total(after, name, cache=cache, result=result) - total(
            before, name, cache=cache, result=result
        )

    # The first request may find the document cached by an earlier test; the two after it must.
    assert change("parse", "hit") >= 2 and change("validate", "hit") >= 2
    assert change("token", "hit") == 2 and change("token", "miss") == 1
