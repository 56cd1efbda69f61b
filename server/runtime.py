"""The composition root: `open_runtime(settings)` opens what a process needs and closes it in reverse.

`serve` (through the app's lifespan), `worker` and `seed-demo` all open their process this way:
MongoDB (indexes ensured), the Redis hub, the process's one outbound HTTP client, the use cases'
collaborators, and, as asked, the background sweeps and the job runner. Nothing connects at
import time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
from pymongo import AsyncMongoClient

from domain.changes import lapse_due_holds, resume_pending
from domain.checkouts import CheckoutDesk
from domain.enrollment_outcomes import ObservedPublisher
from domain.jobs import JobKind, RetryPolicy
from domain.ports import Observer
from domain.services import Policy, Services, Unobserved
from jobs.pool import AttemptCounter, PoolConfig, uncounted
from jobs.runner import Jobs, start_jobs
from realtime.change_publisher import ChangePublisher
from realtime.feeds.feed import Feeds, LiveMetrics
from realtime.hub import Hub
from realtime.supervise import Supervisor, every
from resolvers.errors import ClientErrors
from server.gateways import build_gateway
from server.notifier import open_notifier
from server.settings import Settings
from store.audit import MongoAuditLog
from store.checkouts import MongoCheckoutStore
from store.coupons import MongoCouponStore
from store.course_cache import CachedCourses
from store.courses import MongoCourseStore
from store.dashboard import MongoDashboardReader
from store.database import Collections, Doc, connect
from store.enrollments import MongoEnrollmentStore
from store.indexes import ensure_indexes
from store.jobs import MongoJobQueue
from store.payments import MongoPaymentLedger


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class Runtime:
    """What a process opened; the app's requests read it from the lifespan state."""

    settings: Settings
    mongo: AsyncMongoClient[Doc]
    collections: Collections
    hub: Hub
    services: Services
    http: httpx.AsyncClient  # the one outbound client: job calls, the gateway, the sandbox's webhooks
    feeds: Feeds
    jobs: Jobs | None


def build_services(
    settings: Settings,
    collections: Collections,
    hub: Hub,
    observer: Observer | None = None,
    http: httpx.AsyncClient | None = None,
) -> Services:
    """`http`: the process's one outbound client, which the ikhokha gateway calls through."""
    observer = observer or Unobserved()
    payments = MongoPaymentLedger(collections)
    desk = CheckoutDesk(
        gateway=build_gateway(settings, http, observer),
        checkouts=MongoCheckoutStore(collections),
        payments=payments,
        observer=observer,
        ttl=timedelta(seconds=settings.checkout_ttl_seconds),
        reconcile_after=timedelta(seconds=settings.reconcile_after_seconds),
    )
    return Services(
        courses=CachedCourses(MongoCourseStore(collections), hub),
        coupons=MongoCouponStore(collections),
        enrollments=MongoEnrollmentStore(collections),
        publisher=ObservedPublisher(ChangePublisher(hub), observer),
        jobs=MongoJobQueue(collections, job_retention(settings)),
        clock=SystemClock(),
        payments=payments,
        desk=desk,
        policy=Policy(coupon_hold=timedelta(seconds=settings.coupon_hold_seconds)),
        audit=MongoAuditLog(collections),
        dashboard=MongoDashboardReader(collections),
        observer=observer,
    )


def job_targets(settings: Settings) -> dict[JobKind, str] | None:
    """Where each kind of job is POSTed; the sandbox endpoints when unset in development."""
    sandbox = settings.sandbox_enabled
    lms = settings.lms_url or (f"{settings.base_url}/sandbox/lms" if sandbox else None)
    notify = settings.notify_url or (f"{settings.base_url}/sandbox/notify" if sandbox else None)
    if lms is None or notify is None:
        return None
    return {
        JobKind.PROVISION_ACCESS: lms,
        JobKind.REVOKE_ACCESS: lms,
        JobKind.NOTIFY_STUDENT: notify,
        JobKind.NOTIFY_ADMINS: notify,
    }


def job_retention(settings: Settings) -> timedelta:
    return timedelta(days=settings.job_retention_days)


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.job_max_attempts,
        base_seconds=settings.job_backoff_base_seconds,
        cap_seconds=settings.job_backoff_cap_seconds,
        give_up_after_seconds=settings.job_give_up_after_seconds,
    )


def pool_config(settings: Settings) -> PoolConfig:
    return PoolConfig(
        workers=settings.job_workers,
        batch=settings.job_batch,
        lease_seconds=settings.job_lease_seconds,
        poll_seconds=settings.job_poll_seconds,
        policy=retry_policy(settings),
    )


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    sweeps: bool = True,
    jobs: bool = True,
    observer: Observer | None = None,
    live: LiveMetrics | None = None,
    count_attempt: AttemptCounter = uncounted,
) -> AsyncIterator[Runtime]:
    """`sweeps`: lapse coupon holds and resume outboxes; `jobs`: the job runner."""
    if settings.mongodb_url is None or settings.redis_url is None:
        raise ValueError("the runtime needs ENROLLWIRE_MONGODB_URL and ENROLLWIRE_REDIS_URL resolved")
    async with contextlib.AsyncExitStack() as stack:
        mongo = connect(settings.mongodb_url)
        stack.push_async_callback(mongo.close)
        collections = Collections.of(mongo, settings.mongodb_db)
        await ensure_indexes(collections, job_retention(settings))
        http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0), follow_redirects=False)
        stack.push_async_callback(http.aclose)
        # Changes are pushed to the students' tabs through Redis from every process, workers too.
        hub = Hub(settings.redis_url)
        await hub.start()
        stack.push_async_callback(hub.stop)
        services = build_services(settings, collections, hub, observer, http)
        if isinstance(services.courses, CachedCourses):
            # Until it listens, the course cache passes every read through to the store.
            listeners = Supervisor()
            stack.push_async_callback(listeners.stop)
            listeners.start("course cache", services.courses.listen())
        if sweeps:
            background = Supervisor()
            stack.push_async_callback(background.stop)
            background.start(
                "coupon-holds", every(1.0, "lapse coupon holds", lambda: lapse_due_holds(services.changes))
            )
            background.start(
                "outbox", every(5.0, "resume follow-up work", lambda: resume_pending(services.changes))
            )
        runner = None
        if jobs:
            targets: Mapping[JobKind, str] | None = job_targets(settings)
            timeout = settings.job_http_timeout_seconds
            notifier = await stack.enter_async_context(open_notifier(settings, services.courses))
            runner = start_jobs(
                services.changes,
                http,
                pool_config(settings),
                targets,
                timeout,
                count_attempt,
                services.desk,
                notifier,
            )
            stack.push_async_callback(runner.stop)
        feeds = Feeds(hub, ClientErrors(), live)
        yield Runtime(settings, mongo, collections, hub, services, http, feeds, runner)
