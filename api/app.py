"""The composition root: `create_app(settings)` wires everything in one lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
from pymongo import AsyncMongoClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from api.background import TaskGroup, every
from api.graphql_view import GraphQLView, websocket_origins
from api.hosts import HostCheck
from api.internal import internal_listener
from api.limits import BodyLimit
from api.logs import RequestId
from api.metrics import Metrics
from api.pages import page_routes
from api.safety import allowed_hosts
from api.sandbox_checkout import SandboxCheckout
from api.sandbox_lms import sandbox_job_routes
from api.security_headers import SecurityHeaders
from api.settings import Settings
from api.webhook import webhook_endpoint
from api.worker import Jobs, start_jobs
from domain.changes import lapse_due_holds, resume_pending
from domain.ports import Observer
from domain.services import Policy, Services, Unobserved
from realtime.hub import Hub
from realtime.publisher import RealtimePublisher
from resolvers.feeds import Feeds
from resolvers.schema import Limits, build_schema
from store.coupons import MongoCouponStore
from store.courses import MongoCourseStore
from store.database import Collections, Doc, connect, ensure_indexes
from store.enrollments import MongoEnrollmentStore
from store.jobs import MongoJobQueue
from store.payments import MongoPaymentLedger

log = logging.getLogger(__name__)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Runtime:
    """What the lifespan opened; filled at startup, read by every request."""

    metrics: Metrics
    mongo: AsyncMongoClient[Doc]
    collections: Collections
    hub: Hub
    services: Services
    http: httpx.AsyncClient  # outgoing calls to our own routes (the sandbox checkout)
    feeds: Feeds


class App(Starlette):
    runtime: Runtime
    jobs: Jobs | None = None

    async def stop_job_workers(self) -> None:
        """The first step of a shutdown, before connections drain: the workers release what they
        hold for another instance, and claim nothing more. Left running, they would call the
        sandbox endpoints on this server's closed listener and spend attempts failing."""
        if self.jobs is not None and await self.jobs.stop_workers():
            log.info("job workers stopped; draining connections")


def build_services(
    settings: Settings, collections: Collections, hub: Hub, observer: Observer | None = None
) -> Services:
    return Services(
        courses=MongoCourseStore(collections),
        coupons=MongoCouponStore(collections),
        enrollments=MongoEnrollmentStore(collections),
        publisher=RealtimePublisher(hub),
        jobs=MongoJobQueue(collections),
        clock=SystemClock(),
        payments=MongoPaymentLedger(collections),
        policy=Policy(
            coupon_hold=timedelta(seconds=settings.coupon_hold_seconds),
            checkout_url=f"{settings.base_url}/sandbox/checkout",
        ),
        observer=observer or Unobserved(),
    )


def create_app(settings: Settings) -> App:
    if settings.mongodb_url is None or settings.redis_url is None:
        raise ValueError("create_app needs ENROLLWIRE_MONGODB_URL and ENROLLWIRE_REDIS_URL resolved")
    mongodb_url, redis_url = settings.mongodb_url, settings.redis_url
    limits = Limits(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        introspection=settings.dev_features,
        suggestions=settings.dev_features,
        max_page_size=settings.max_page_size,
    )
    metrics = Metrics()
    schema = build_schema(limits, metrics)

    feeds = Feeds(lambda: app.runtime.hub, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        settings.warn_about_development_secrets()
        mongo = connect(mongodb_url)
        collections = Collections.of(mongo, settings.mongodb_db)
        await ensure_indexes(collections)
        hub = Hub(redis_url)
        await hub.start()
        services = build_services(settings, collections, hub, metrics)
        http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))
        app.runtime = Runtime(metrics, mongo, collections, hub, services, http, feeds)
        # Drops happen in the hub's buffers (per socket) or in a shared feed's member outboxes.
        metrics.watch_hub(
            lambda: dataclasses.replace(hub.stats(), dropped=hub.stats().dropped + feeds.dropped)
        )
        tasks = TaskGroup()
        tasks.start("coupon-holds", every(1.0, "lapse coupon holds", lambda: lapse_due_holds(services)))
        tasks.start("outbox", every(5.0, "resume follow-up work", lambda: resume_pending(services)))
        metrics.watch_jobs(lambda: services.jobs.stats(services.clock.now()))
        jobs = app.jobs = start_jobs(settings, services, metrics.job_attempt)
        try:
            async with contextlib.AsyncExitStack() as internal:
                if settings.metrics_port is not None:
                    listener = internal_listener(
                        settings.metrics_host, settings.metrics_port, metrics.endpoint(), readyz
                    )
                    await internal.enter_async_context(listener)
                yield
        finally:
            await jobs.stop()
            await tasks.stop()
            await hub.stop()
            await http.aclose()
            await mongo.close()

    view = GraphQLView(
        schema,
        lambda: app.runtime.services,
        tokens=settings.token_policy,
        graphiql=settings.graphiql_enabled,
        max_page_size=settings.max_page_size,
        allowed_origins=websocket_origins(settings),
        connection_init_timeout=settings.connection_init_timeout_seconds,
        hub=lambda: app.runtime.hub,
        feeds=lambda: feeds,
        sockets=metrics,
    )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = {"mongodb": await _ping_mongo(app.runtime.mongo), "redis": _hub_state(app.runtime.hub)}
        ready = all(v == "ok" for v in checks.values())
        body = {"status": "ok" if ready else "unavailable", "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503)

    # Operators scrape the internal listener; the public port keeps /metrics only in development.
    public_metrics = settings.metrics_port is None and not settings.production
    if settings.metrics_port is None and settings.production:
        log.warning("ENROLLWIRE_METRICS_PORT is not set: no metrics are served")
    checkout = SandboxCheckout(
        lambda: app.runtime.services,
        lambda: app.runtime.http,
        settings.webhook_secret,
        f"{settings.base_url}/webhooks/payments",
    )
    app = App(
        routes=[
            Route(
                "/graphql",
                BodyLimit(view, settings.max_body_bytes),
                methods=["GET", "POST"],
            ),
            WebSocketRoute("/graphql", view),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *sandbox_job_routes(settings),
            Route(
                "/webhooks/payments",
                webhook_endpoint(
                    lambda: app.runtime.services, [settings.webhook_secret], metrics.webhook_delivery
                ),
                methods=["POST"],
            ),
            *(checkout.routes() if settings.sandbox_enabled else []),
            *page_routes(settings),
            *([Route("/metrics", metrics.endpoint())] if public_metrics else []),
        ],
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(HostCheck, allowed_hosts=allowed_hosts(settings.base_url, settings.dev_features)),
            Middleware(RequestId),
        ],
        lifespan=lifespan,
    )
    return app


async def _ping_mongo(client: AsyncMongoClient[Doc]) -> str:
    try:
        async with asyncio.timeout(2):
            await client.admin.command("ping")
    except Exception as error:
        return type(error).__name__
    return "ok"


def _hub_state(hub: Hub) -> str:
    return "ok" if hub.healthy else "unreachable"
