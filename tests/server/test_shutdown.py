"""SIGTERM to a real `enrollwire serve` process with open subscriptions and a request in flight.

The request in flight is a webhook sent with `Expect: 100-continue`: uvicorn answers
`100 Continue` only once the route asks for the body, so when the test sees it the request is
provably inside the app, waiting for its body, before the signal is sent; the body follows
only after the server has provably stopped accepting. No step relies on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx

from api.auth import issue_token
from api.webhook_signature import HEADER, sign
from domain.viewer import Role
from sandbox.embedded import ManagedServer, free_port
from store.database import Collections, connect
from tests.jobs.job_flows import eventually
from tests.jobs.stand_in_lms import Reply, StandInLms
from tests.processes import HANG_GUARD, alive, children_of, kill_group, until_answers
from tests.realtime.wsclient import ADMIN_EVENTS, COURSE_CARD, signed_in
from tests.servers import AUTH_SECRET, WEBHOOK_SECRET

CLIENT_CLOSE_CODES = {1001, 1012}  # "going away" / "service restart": reconnect elsewhere

CREATE_COURSE = """
mutation($input: CreateCourseInput!) { createCourse(input: $input) { errors { code } } }
"""
ENROLL = """
mutation($input: EnrollInput!) {
  enroll(input: $input) { enrollment { id status } payment { reference } errors { code } }
}
"""
APPROVE = """
mutation($id: ID!) { approveEnrollment(enrollmentId: $id) { errors { code } } }
"""


@dataclass
class Server:
    process: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_lines(self) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def server_env(env: dict[str, str]) -> dict[str, str]:
    own = {k: v for k, v in os.environ.items() if not k.startswith("ENROLLWIRE_")}
    return {
        **own,
        "ENROLLWIRE_AUTH_SECRET": AUTH_SECRET,
        "ENROLLWIRE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ENROLLWIRE_PORT": str(free_port()),
        "ENROLLWIRE_LOG_FORMAT": "json",
        "ENROLLWIRE_LOG_LEVEL": "INFO",
        **env,
    }


@contextlib.asynccontextmanager
async def enrollwire_serve(env: dict[str, str], log: Path) -> AsyncIterator[Server]:
    """`enrollwire serve` in its own session (so its process group can be checked), until ready."""
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    server = Server(process, int(env["ENROLLWIRE_PORT"]), log)
    try:
        async with asyncio.timeout(HANG_GUARD):
            await until_answers(process, server.base_url, "/readyz", log)
        yield server
    finally:
        await kill_group(process)


def processes_in_group(pgid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # The fields after the command (which may hold spaces) start after its ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(stat.parent.name))
    return found


async def gql(http: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


class HeldWebhook:
    """A signed webhook whose headers are in and whose body waits for the test's word."""

    def __init__(self, port: int, body: bytes) -> None:
        self._port, self._body = port, body
        self.signature = sign(WEBHOOK_SECRET, body, int(time.time()))
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def start(self) -> None:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port)
        head = (
            "POST /webhooks/payments HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{self._port}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(self._body)}\r\n"
            f"{HEADER}: {self.signature}\r\n"
            "Expect: 100-continue\r\n\r\n"
        )
        self._writer.write(head.encode())
        await self._writer.drain()
        interim = await self._reader.readuntil(b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100 "), interim

    async def finish(self) -> tuple[int, dict[str, Any]]:
        assert self._reader is not None and self._writer is not None
        self._writer.write(self._body)
        await self._writer.drain()
        head = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        headers = dict(line.split(": ", 1) for line in head[1:] if line)
        length = int({k.lower(): v for k, v in headers.items()}["content-length"])
        body: dict[str, Any] = json.loads(await self._reader.readexactly(length))
        self._writer.close()
        return status, body


async def refuses_connections(port: int) -> None:
    """Until a new TCP connection is refused: the listening socket is closed."""
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except ConnectionRefusedError:
            return
        writer.close()
        await asyncio.sleep(0.02)


async def test_sigterm_drains_and_exits_cleanly(
    mongo_server: ManagedServer, redis_server: ManagedServer, tmp_path: Path
) -> None:
    lms = StandInLms(script=[Reply(hold=True)])
    db_name = f"t_{uuid.uuid4().hex[:12]}"
    env = server_env(
        {
            "ENROLLWIRE_MONGODB_URL": mongo_server.url,
            "ENROLLWIRE_REDIS_URL": redis_server.url,
            "ENROLLWIRE_MONGODB_DB": db_name,
            "ENROLLWIRE_LMS_URL": f"{lms.url}/lms",
            "ENROLLWIRE_NOTIFY_URL": f"{lms.url}/notify",
            "ENROLLWIRE_JOB_WORKERS": "1",
            "ENROLLWIRE_JOB_LEASE_SECONDS": "120",
            "ENROLLWIRE_JOB_HTTP_TIMEOUT_SECONDS": "90",
            "ENROLLWIRE_JOB_POLL_SECONDS": "0.2",
        }
    )
    admin = issue_token(AUTH_SECRET, "admin-x", Role.ADMIN, 3600)
    alice = issue_token(AUTH_SECRET, "alice-x", Role.STUDENT, 3600)
    bob = issue_token(AUTH_SECRET, "bob-x", Role.STUDENT, 3600)
    async with lms.serving(), enrollwire_serve(env, tmp_path / "server.log") as server:
        pid = server.process.pid
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            course = {"id": "sd-1", "title": "Shutdown", "price": 1000}
            assert (await gql(http, CREATE_COURSE, {"input": course}, admin))["createCourse"]["errors"] == []
            card_payment = {"input": {"courseId": "sd-1", "paymentMethod": "CARD"}}
            eft = {"input": {"courseId": "sd-1", "paymentMethod": "EFT"}}
            reference = (await gql(http, ENROLL, card_payment, alice))["enroll"]["payment"]["reference"]
            waiting = (await gql(http, ENROLL, eft, bob))["enroll"]["enrollment"]["id"]

        async with (
            signed_in(f"ws://127.0.0.1:{server.port}/graphql", alice) as tab,
            signed_in(f"ws://127.0.0.1:{server.port}/graphql", admin) as console,
        ):
            card = await tab.subscribe(COURSE_CARD, {"courseId": "sd-1"})
            assert (await tab.next_data(card))["courseCard"]["buttonText"] == "Payment Processing"
            feed = await console.subscribe(ADMIN_EVENTS)
            # The approval's event proves the admin stream is live; its job is then held by the LMS.
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
                assert (await gql(http, APPROVE, {"id": waiting}, admin))["approveEnrollment"]["errors"] == []
            approved = (await console.next_data(feed, within=30))["adminEnrollmentEvents"]
            assert approved["type"] == "STATUS_CHANGED"
            job = f"{waiting}:provision_access"
            await lms.wait_for(lambda: lms.in_flight[job] == 1, seconds=HANG_GUARD)

            body = json.dumps(
                {
                    "id": "evt-shutdown-1",
                    "type": "payment.succeeded",
                    "created": int(time.time()),
                    "data": {"reference": reference, "amount": 1000, "currency": "ZAR"},
                }
            ).encode()
            in_flight = HeldWebhook(server.port, body)
            await in_flight.start()
            children = children_of(pid)

            server.process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(HANG_GUARD):
                codes = {await tab.close_code(HANG_GUARD), await console.close_code(HANG_GUARD)}
                assert codes <= CLIENT_CLOSE_CODES, codes
                await refuses_connections(server.port)
            assert server.process.returncode is None, "the process must still be draining"

            status, answer = await in_flight.finish()
            assert (status, answer["status"]) == (200, "processed")

        async with asyncio.timeout(HANG_GUARD):
            assert await server.process.wait() == 0
        assert processes_in_group(pid) == []
        assert [child for child in children if alive(child)] == []
        await lms.wait_for(lambda: lms.in_flight[job] == 0, seconds=HANG_GUARD)

    client = connect(mongo_server.url)
    try:
        jobs = Collections.of(client, db_name).jobs
        released = await jobs.find_one({"_id": job})
        assert released is not None
        # Given back at once (not left to its 120 s lease): another instance takes it now.
        assert (released["status"], released["leaseOwner"], released["attempts"]) == ("PENDING", None, 0)
        assert await jobs.count_documents({"status": "RUNNING"}) == 0
    finally:
        await client.close()

    lines = server.log_lines()
    messages = [line["message"] for line in lines]
    assert "Application shutdown complete." in messages
    assert [line for line in lines if line["level"] in ("error", "critical")] == []
    text = server.log.read_text()
    for secret in (AUTH_SECRET, WEBHOOK_SECRET, admin, alice, bob, in_flight.signature):
        assert secret not in text
    requests = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert requests and all(len(line.get("request_id", "")) == 32 for line in requests)


async def test_sigterm_stops_the_embedded_servers_too(tmp_path: Path) -> None:
    """`enrollwire serve` with no URLs starts its own store and Redis; SIGTERM leaves neither behind."""
    env = server_env({"ENROLLWIRE_DATA_DIR": str(tmp_path / "data"), "ENROLLWIRE_JOB_WORKERS": "0"})
    async with enrollwire_serve(env, tmp_path / "server.log") as server:
        children = children_of(server.process.pid)
        assert len(children) == 2, children  # SecantusDB and redis-server
        server.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(HANG_GUARD):
            assert await server.process.wait() == 0
    assert [child for child in children if alive(child)] == []


async def _counted(count: Awaitable[int], at_least: int) -> bool:
    return await count >= at_least


def payment(reference: str, event_id: str) -> bytes:
    event = {
        "id": event_id,
        "type": "payment.succeeded",
        "created": int(time.time()),
        "data": {"reference": reference, "amount": 1000, "currency": "ZAR"},
    }
    return json.dumps(event).encode()


async def test_job_workers_stop_before_the_drain(
    mongo_server: ManagedServer, redis_server: ManagedServer, tmp_path: Path
) -> None:
    """Development: the jobs go to the sandbox LMS on this very server, whose listener a shutdown
    closes first. A payment that lands while requests drain approves and enqueues jobs: no
    worker may take them then, or each call meets the closed port and spends an attempt."""
    db_name = f"t_{uuid.uuid4().hex[:12]}"
    env = server_env(
        {
            "ENROLLWIRE_MONGODB_URL": mongo_server.url,
            "ENROLLWIRE_REDIS_URL": redis_server.url,
            "ENROLLWIRE_MONGODB_DB": db_name,
            "ENROLLWIRE_SANDBOX": "true",
            "ENROLLWIRE_JOB_WORKERS": "1",
            "ENROLLWIRE_JOB_POLL_SECONDS": "0.2",
        }
    )
    admin = issue_token(AUTH_SECRET, "admin-y", Role.ADMIN, 3600)
    alice = issue_token(AUTH_SECRET, "alice-y", Role.STUDENT, 3600)
    client = connect(mongo_server.url)
    jobs = Collections.of(client, db_name).jobs
    try:
        async with enrollwire_serve(env, tmp_path / "server.log") as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
                course = {"id": "sd-2", "title": "Drain", "price": 1000}
                created = await gql(http, CREATE_COURSE, {"input": course}, admin)
                assert created["createCourse"]["errors"] == []
                card_payment = {"input": {"courseId": "sd-2", "paymentMethod": "CARD"}}
                enrolled = (await gql(http, ENROLL, card_payment, alice))["enroll"]
            reference, enrollment_id = enrolled["payment"]["reference"], enrolled["enrollment"]["id"]
            paying = HeldWebhook(server.port, payment(reference, "evt-drain-1"))
            holding = HeldWebhook(server.port, payment(reference, "evt-drain-2"))  # keeps the drain open
            await paying.start()
            await holding.start()

            server.process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(HANG_GUARD):
                await refuses_connections(server.port)
            status, answer = await paying.finish()
            assert (status, answer["status"]) == (200, "processed")
            # The approval enqueued its jobs while the drain goes on. A running worker takes one
            # at once (the enqueue wakes it); give it a generous window to show itself.
            # The approval's jobs (the card's reconciliation waits for its own schedule).
            mine = {"_id": {"$regex": f"^{enrollment_id}:"}, "kind": {"$ne": "RECONCILE_PAYMENT"}}
            await eventually(lambda: _counted(jobs.count_documents(mine), 2), HANG_GUARD)
            taken = {**mine, "$or": [{"attempts": {"$gt": 0}}, {"status": "RUNNING"}]}
            with contextlib.suppress(TimeoutError):  # 2 s: ten of the worker's polls
                await eventually(lambda: _counted(jobs.count_documents(taken), 1), 2.0)
            await holding.finish()
            async with asyncio.timeout(HANG_GUARD):
                assert await server.process.wait() == 0

        states = [(j["status"], j["attempts"], j["leaseOwner"]) async for j in jobs.find(mine)]
        # Access, the approval's notice, and the second payment's (recorded on the approved
        # enrollment): none taken while the server drained.
        assert states == [("PENDING", 0, None)] * 3, states
        messages = [line["message"] for line in server.log_lines()]
        stopped = messages.index("job workers stopped; draining connections")
        assert stopped < messages.index("Application shutdown complete."), messages
    finally:
        await client.close()
