"""Helpers for the webhook tests: enrolments to pay, signed deliveries, DB snapshots, realtime counts."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import pytest

from api.webhook_signature import HEADER, sign
from domain.viewer import Role
from realtime.channels import user_channel
from realtime.envelope import Envelope
from realtime.hub import Hub
from realtime.inbox import Gap, Inbox
from sandbox.embedded import ManagedServer
from tests.servers import WEBHOOK_SECRET, GraphQLClient, RunningApp, serve, test_settings

URL = "/webhooks/payments"

CREATE_COURSE = """
mutation($input: CreateCourseInput!) { createCourse(input: $input) { course { id } errors { code } } }
"""
CREATE_COUPON = """
mutation($input: CreateCouponInput!) { createCoupon(input: $input) { coupon { code } errors { code } } }
"""
ENROLL = """
mutation($input: EnrollInput!) {
  enroll(input: $input) {
    enrollment { id status version amountDue { amount } }
    payment { reference redirectUrl }
    errors { code }
  }
}
"""


@pytest.fixture(name="running")
async def app_without_workers(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> AsyncIterator[RunningApp]:
    """The suite's app without job workers, whose access updates would bump versions mid-test."""
    async with serve(test_settings(mongo_server.url, redis_server.url, job_workers=0)) as app:
        yield app


@dataclass(frozen=True)
class Enrolled:
    id: str
    user: str
    reference: str
    redirect_url: str | None
    amount_due: int


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def create_course(gql: GraphQLClient, running: RunningApp, price: int) -> str:
    course_id = unique("course")
    created = await gql(
        CREATE_COURSE,
        {"input": {"id": course_id, "title": f"Course {course_id}", "price": price}},
        running.token("admin", Role.ADMIN),
    )
    assert created["data"]["createCourse"]["errors"] == [], created
    return course_id


async def enroll(
    gql: GraphQLClient,
    running: RunningApp,
    *,
    price: int = 10_000,
    method: str = "CARD",
    coupon: str | None = None,
    course_id: str | None = None,
) -> Enrolled:
    course = course_id or await create_course(gql, running, price)
    user = unique("student")
    variables = {"input": {"courseId": course, "paymentMethod": method, "couponCode": coupon}}
    payload = (await gql(ENROLL, variables, running.token(user)))["data"]["enroll"]
    assert payload["errors"] == [], payload
    enrollment, payment = payload["enrollment"], payload["payment"]
    return Enrolled(
        enrollment["id"],
        user,
        payment["reference"],
        payment["redirectUrl"],
        enrollment["amountDue"]["amount"],
    )


def event(
    reference: str,
    amount: int,
    *,
    type: str = "payment.succeeded",
    event_id: str | None = None,
    currency: str = "ZAR",
) -> dict[str, Any]:
    return {
        "id": event_id or unique("evt"),
        "type": type,
        "created": int(time.time()),
        "data": {"reference": reference, "amount": amount, "currency": currency},
    }


def signed_headers(body: bytes, secret: str = WEBHOOK_SECRET, t: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if t is None else t
    return {"Content-Type": "application/json", HEADER: sign(secret, body, stamp)}


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


async def deliver(http: httpx.AsyncClient, payload: dict[str, Any]) -> httpx.Response:
    body = encode(payload)
    return await http.post(URL, content=body, headers=signed_headers(body))


async def enrollment_doc(running: RunningApp, enrollment_id: str) -> dict[str, Any]:
    doc = await running.app.runtime.collections.enrollments.find_one({"_id": enrollment_id})
    assert doc is not None
    return doc


async def snapshot(running: RunningApp) -> list[dict[str, Any]]:
    cursor = running.app.runtime.collections.enrollments.find({}).sort("_id", 1)
    return [doc async for doc in cursor]


class RealtimeLog:
    """Counts what one user's channel carried, up to a marker published after the fact.

    The app publishes before it answers, and the marker goes out after the answers came
    back, so Redis delivers every message of the deliveries before the marker.
    """

    def __init__(self, hub: Hub, channel: str, subscription: Inbox) -> None:
        self._hub, self._channel, self._subscription = hub, channel, subscription

    async def drain(self) -> list[Envelope]:
        marker = f"marker-{uuid.uuid4().hex}".encode()
        assert await self._hub.publish(self._channel, marker)
        seen: list[Envelope] = []
        async with asyncio.timeout(10):
            async for item in self._subscription:
                if isinstance(item, Gap):
                    raise AssertionError(f"the subscription reported a gap: {item}")
                if item == marker:
                    return seen
                seen.append(Envelope.decode(item))
        raise AssertionError("the subscription ended before the marker")


@asynccontextmanager
async def realtime_log(running: RunningApp, user: str) -> AsyncIterator[RealtimeLog]:
    hub = running.app.runtime.hub
    channel = user_channel(user)
    async with hub.subscribe(channel) as subscription:
        yield RealtimeLog(hub, channel, subscription)
