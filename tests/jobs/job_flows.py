"""Shared steps for the job tests: an app wired to a stand-in LMS, enrollments to approve."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
from pymongo.monitoring import CommandListener

from domain.enrollment import AccessStatus
from domain.jobs import JobKind
from domain.viewer import Role
from integrations.job_endpoints import JobEndpoints
from jobs.handlers import JobHandler, PostJob
from jobs.pool import PoolConfig, WorkerPool
from realtime.envelope import Envelope
from realtime.hub import Hub
from realtime.inbox import Inbox
from server.runtime import build_services, job_targets, retry_policy
from server.settings import Settings
from store.database import Collections, Doc, connect
from tests.jobs.stand_in_lms import StandInLms
from tests.servers import GraphQLClient, RunningApp, serve, test_settings

CREATE_COURSE = """
mutation($input: CreateCourseInput!) { createCourse(input: $input) { course { id } errors { code } } }
"""
ENROLL = """
mutation($input: EnrollInput!) { enroll(input: $input) { enrollment { id status } errors { code } } }
"""
APPROVE = """
mutation($id: ID!) {
  approveEnrollment(enrollmentId: $id) { enrollment { status access { status } } errors { code } }
}
"""
RETRY_JOB = """
mutation($id: ID!) { retryJob(id: $id) { job { id status attempts } errors { code } } }
"""
JOB_STATS = "{ jobStats { pending running succeeded dead oldestPendingSeconds } }"
JOBS = """
query($status: JobStatus, $first: Int, $after: String) {
  jobs(status: $status, first: $first, after: $after) {
    edges { cursor node { id kind enrollmentId status attempts lastError } }
    pageInfo { hasNextPage endCursor } totalCount
  }
}
"""


def job_settings(mongo_url: str, redis_url: str, lms: StandInLms, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "lms_url": f"{lms.url}/lms",
        "notify_url": f"{lms.url}/notify",
        "job_backoff_base_seconds": 0.05,
        "job_backoff_cap_seconds": 0.3,
        "job_lease_seconds": 10,
        "job_poll_seconds": 0.2,
    }
    values.update(overrides)
    return test_settings(mongo_url, redis_url, **values)


@dataclass
class Instance:
    running: RunningApp
    gql: GraphQLClient

    @property
    def admin(self) -> str:
        return self.running.token("admin-1", Role.ADMIN)


@contextlib.asynccontextmanager
async def instance(settings: Settings) -> AsyncIterator[Instance]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with serve(settings) as running:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=60, limits=limits) as http:
            yield Instance(running, GraphQLClient(http, running))


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Collections]:
    assert settings.mongodb_url is not None
    client = connect(settings.mongodb_url)
    try:
        yield Collections.of(client, settings.mongodb_db)
    finally:
        await client.close()


async def create_course(app: Instance, course_id: str = "c1") -> None:
    body = await app.gql(
        CREATE_COURSE, {"input": {"id": course_id, "title": course_id, "price": 1000}}, app.admin
    )
    assert body["data"]["createCourse"]["errors"] == [], body


async def awaiting_approval(app: Instance, student: str, course_id: str = "c1") -> str:
    token = app.running.token(student, email=f"{student}@example.com")
    body = await app.gql(ENROLL, {"input": {"courseId": course_id, "paymentMethod": "EFT"}}, token)
    payload = body["data"]["enroll"]
    assert payload["errors"] == [] and payload["enrollment"]["status"] == "AWAITING_APPROVAL", body
    return str(payload["enrollment"]["id"])


async def approve(app: Instance, enrollment_id: str) -> dict[str, Any]:
    body = await app.gql(APPROVE, {"id": enrollment_id}, app.admin)
    payload: dict[str, Any] = body["data"]["approveEnrollment"]
    assert payload["errors"] == [], body
    return payload


async def access_changes(events: Inbox, until: AccessStatus) -> list[tuple[AccessStatus, int]]:
    """(status, attempts) of every change pushed on a user channel, up to `until`."""
    seen: list[tuple[AccessStatus, int]] = []
    async for item in events:
        if isinstance(item, bytes):
            access = Envelope.decode(item).change.enrollment.access
            seen.append((access.status, access.attempts))
            if access.status is until:
                return seen
    raise AssertionError(f"subscription ended before access became {until}: {seen}")


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 60, every: float = 0.05) -> None:
    """Until `check()` holds; a bounded wait on a condition the database reports."""
    async with asyncio.timeout(seconds):
        # Job rows have no push channel of their own: re-read them until they hold.
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(every)


async def all_jobs_succeeded(jobs: Collections, expected: int) -> bool:
    return await jobs.jobs.count_documents({"status": "SUCCEEDED"}) == expected


async def job_doc(jobs: Collections, job_id: str) -> Doc:
    doc = await jobs.jobs.find_one({"_id": job_id})
    assert doc is not None
    return doc


async def access_is(db: Collections, enrollment_id: str, status: str) -> bool:
    doc = await db.enrollments.find_one({"_id": enrollment_id}, {"access": 1})
    return doc is not None and bool(doc["access"]["status"] == status)


async def job_has_status(jobs: Collections, job_id: str, status: str) -> bool:
    return str((await job_doc(jobs, job_id))["status"]) == status


@contextlib.asynccontextmanager
async def job_pool(
    settings: Settings,
    mongo_url: str,
    *,
    batch: int,
    lease_seconds: float,
    listeners: Sequence[CommandListener] = (),
    handlers: Mapping[JobKind, JobHandler] | None = None,
) -> AsyncIterator[WorkerPool]:
    """One worker on a database client of its own (through a proxy, or heard by `listeners`),
    posting to the settings' LMS and notifier unless `handlers` replace some of them; started by
    the test, stopped on the way out."""
    mongo = connect(mongo_url, event_listeners=list(listeners))
    targets = job_targets(settings)
    assert targets is not None and settings.redis_url is not None
    try:
        collections = Collections.of(mongo, settings.mongodb_db)
        # The connection the worker will use, opened before the test starts watching it.
        await collections.jobs.find_one({})
        services = build_services(settings, collections, Hub(settings.redis_url))
        config = PoolConfig(
            workers=1,
            batch=batch,
            lease_seconds=lease_seconds,
            poll_seconds=settings.job_poll_seconds,
            policy=retry_policy(settings),
        )
        async with httpx.AsyncClient(timeout=httpx.Timeout(30)) as client:
            posts: dict[JobKind, JobHandler] = {
                kind: PostJob(JobEndpoints(client, targets, 30), services.changes, config.policy)
                for kind in targets
            }
            pool = WorkerPool(services.changes, posts | dict(handlers or {}), config)
            try:
                yield pool
            finally:
                await pool.stop()
    finally:
        await mongo.close()
