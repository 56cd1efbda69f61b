"""Card payments against the iK Pay stand-in: the app configured for `ikhokha`, the stand-in on
a real uvicorn server of its own, both in this event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx2 as httpx
import uvicorn
from starlette.applications import Starlette

from domain.viewer import Role
from integrations.ikhokha import signing
from sandbox.embedded import ManagedServer, free_port
from sandbox.ikhokha_standin import IkPayStandIn
from tests.api.webhook_support import create_course, unique
from tests.servers import GraphQLClient, RunningApp, serve, test_settings

APP_ID = "IKTESTAPP"
SECRET = "ik-test-app-secret-0123456789abcdef"
CALLBACK = "/webhooks/ikhokha"

ENROLL_CARD = """
mutation($input: EnrollInput!) {
  enroll(input: $input) {
    enrollment { id status version gatewayTransactionId amountDue { amount } }
    payment { reference redirectUrl }
    errors { code message }
  }
}
"""
RETRY = """
mutation($id: ID!) {
  retryPayment(enrollmentId: $id) {
    enrollment { id status gatewayTransactionId }
    payment { reference redirectUrl }
    errors { code }
  }
}
"""
RECORD = """
mutation($id: ID!, $amount: Int!, $reference: String!, $note: String) {
  recordPayment(enrollmentId: $id, amount: $amount, reference: $reference, note: $note) {
    enrollment { id status version amountPaid { amount } }
    errors { code field }
  }
}
"""

T = TypeVar("T")


@dataclass
class Card:
    running: RunningApp
    standin: IkPayStandIn
    standin_url: str
    http: httpx.AsyncClient  # to the app
    gql: GraphQLClient

    async def course(self, price: int = 10_000) -> str:
        return await create_course(self.gql, self.running, price)

    async def enroll(self, course_id: str, user: str | None = None) -> tuple[str, dict[str, Any]]:
        student = user or unique("student")
        variables = {"input": {"courseId": course_id, "paymentMethod": "CARD"}}
        payload: dict[str, Any] = (await self.gql(ENROLL_CARD, variables, self.running.token(student)))[
            "data"
        ]["enroll"]
        return student, payload

    async def doc(self, enrollment_id: str) -> dict[str, Any]:
        doc = await self.running.app.runtime.collections.enrollments.find_one({"_id": enrollment_id})
        assert doc is not None
        return doc

    def admin(self) -> str:
        return self.running.token("admin-1", Role.ADMIN)


@contextlib.asynccontextmanager
async def card_app(mongo: ManagedServer, redis: ManagedServer, **overrides: Any) -> AsyncIterator[Card]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(timeout=30) as outbound:
        standin = IkPayStandIn(APP_ID, SECRET, outbound, base)
        server = uvicorn.Server(
            uvicorn.Config(
                Starlette(routes=standin.routes()), host="127.0.0.1", port=port, log_level="warning"
            )
        )
        task = asyncio.create_task(server.serve())
        try:
            async with asyncio.timeout(30):
                while not server.started:
                    if task.done():
                        task.result()
                    await asyncio.sleep(0.01)
            values: dict[str, Any] = {
                "payment_gateway": "ikhokha",
                "ikhokha_api_url": base,
                "ikhokha_app_id": APP_ID,
                "ikhokha_app_secret": SECRET,
                "job_workers": 0,
                **overrides,
            }
            settings = test_settings(mongo.url, redis.url, **values)
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
            async with (
                serve(settings) as running,
                httpx.AsyncClient(base_url=running.base_url, timeout=30, limits=limits) as http,
            ):
                yield Card(running, standin, base, http, GraphQLClient(http, running))
                await standin.settled()
        finally:
            server.should_exit = True
            await task


def signed(body: str, secret: str = SECRET, app_id: str = APP_ID, path: str = CALLBACK) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "IK-APPID": app_id,
        "IK-SIGN": signing.sign(secret, path, body),
    }


def callback_body(paylink_id: str, reference: str | None, status: str = "SUCCESS") -> str:
    document: dict[str, Any] = {"paylinkID": paylink_id, "status": status}
    if reference is not None:
        document["externalTransactionID"] = reference
    document["responseCode"] = "00" if status == "SUCCESS" else "51"
    return signing.body_text(document)


async def eventually(read: Callable[[], Awaitable[T]], done: Callable[[T], bool], within: float = 20) -> T:
    """Reads until `done` holds (a job in another task decides when), bounded by `within`."""
    async with asyncio.timeout(within):
        while True:
            value = await read()
            if done(value):
                return value
            await asyncio.sleep(0.05)
