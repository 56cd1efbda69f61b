"""The HTTP and WebSocket surface: `create_app(settings)` assembles the routes around one lifespan.

The lifespan opens the process's runtime (`server.runtime.open_runtime`) and hangs it on the app,
where every request and WebSocket reads what it needs (`api.state.runtime_of`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator

from pymongo import AsyncMongoClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from api.admin_export import enrollments_csv
from api.auth import VerifiedTokens
from api.documents import Documents, load_manifest
from api.graphql_view import GraphQLView, websocket_origins
from api.hosts import HostCheck
from api.ikhokha_webhook import ikhokha_endpoint
from api.internal import internal_listener
from api.limits import BodyLimit
from api.metrics import Metrics
from api.rate_limit_edge import EdgeLimits, bad_signature_limit
from api.rate_limits import RateLimiter
from api.request_ids import RequestId
from api.safety import allowed_hosts
from api.security_headers import SecurityHeaders
from api.state import runtime_of
from api.web_pages import page_routes
from api.webhook import webhook_endpoint
from realtime.hub import Hub
from resolvers.request_policy import CacheStats
from resolvers.schema import Limits, build_schema
from sandbox.checkout import SandboxCheckout
from sandbox.ikpay_mount import mounted_standin
from sandbox.lms import sandbox_job_routes
from server.runtime import Runtime, open_runtime
from server.settings import Settings
from store.database import Doc

log = logging.getLogger(__name__)


class App(Starlette):
    runtime: Runtime

    async def stop_job_workers(self) -> None:
        """The first step of a shutdown, before connections drain: the workers release what they
        hold for another instance, and claim nothing more. Left running, they would call the
        sandbox endpoints on this server's closed listener and spend attempts failing."""
        runtime: Runtime | None = getattr(self, "runtime", None)
        jobs = None if runtime is None else runtime.jobs
        if jobs is not None and await jobs.stop_workers():
            log.info("job workers stopped; draining connections")


def create_app(settings: Settings) -> App:
    if settings.mongodb_url is None or settings.redis_url is None:
        raise ValueError("create_app needs ENROLLWIRE_MONGODB_URL and ENROLLWIRE_REDIS_URL resolved")
    limits = Limits(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        introspection=settings.dev_features,
        suggestions=settings.dev_features,
        max_page_size=settings.max_page_size,
    )
    metrics = Metrics()
    # The keys carry the database's name: the instances of one deployment share both.
    limiter = RateLimiter(
        settings.redis_url, settings.rate_limit_rules, f"enrollwire:{settings.mongodb_db}", metrics
    )
    bad_signatures = bad_signature_limit(limiter, settings.proxy_networks)
    schema = build_schema(limits, metrics)
    tokens = settings.token_policy
    metrics.watch_caches(lambda: cache_counts(schema.documents.stats(), tokens.verified))
    ikpay = mounted_standin(settings)  # development only: iK Pay's stand-in under /sandbox/ikpay

    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        settings.warn_about_development_secrets()
        if not limiter.rules.enabled:
            log.warning("ENROLLWIRE_RATE_LIMITS=off: no request, socket or webhook is rate limited")
        async with (
            contextlib.aclosing(limiter),
            open_runtime(
                settings, observer=metrics, live=metrics, count_attempt=metrics.job_attempt
            ) as runtime,
        ):
            app.runtime = runtime
            if ikpay is not None:
                ikpay.use_client(runtime.http)
                log.warning(
                    "the iK Pay stand-in answers at %s (ENROLLWIRE_IKHOKHA_API_URL unset)", ikpay.base_url
                )
            hub, feeds, services = runtime.hub, runtime.feeds, runtime.services
            # Drops happen in the hub's buffers (per socket) or in a shared feed's member backlogs.
            metrics.watch_hub(
                lambda: dataclasses.replace(hub.stats(), dropped=hub.stats().dropped + feeds.dropped)
            )
            metrics.watch_readiness(lambda: readiness_checks(runtime))
            metrics.watch_jobs(
                lambda: services.jobs.stats(services.clock.now()),
                lambda: services.jobs.oldest_pending(services.clock.now()),
            )
            async with contextlib.AsyncExitStack() as internal:
                if settings.metrics_port is not None:

                    async def internal_readyz(request: Request) -> Response:
                        # The listener is its own small app: the runtime is handed over, not found
                        # on the request's app as the public routes find it.
                        return await readiness(runtime)

                    listener = internal_listener(
                        settings.metrics_host, settings.metrics_port, metrics.endpoint(), internal_readyz
                    )
                    await internal.enter_async_context(listener)
                yield
            if ikpay is not None:
                await ikpay.settled()  # callbacks in flight, before the client closes

    view = GraphQLView(
        schema,
        tokens=tokens,
        graphiql=settings.graphiql_enabled,
        max_page_size=settings.max_page_size,
        allowed_origins=websocket_origins(settings),
        connection_init_timeout=settings.connection_init_timeout_seconds,
        # Automatic persisted queries learn documents from callers: development only.
        documents=Documents(
            load_manifest(settings.trusted_manifest) if settings.trusted_manifest else None,
            automatic=settings.dev_features,
        ),
        sockets=metrics,
    )
    edge = EdgeLimits(view, limiter, settings.token_policy, settings.proxy_networks, view.documents)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        return await readiness(runtime_of(request))

    # Operators scrape the internal listener; the public port keeps /metrics only in development.
    public_metrics = settings.metrics_port is None and not settings.production
    if settings.metrics_port is None and settings.production:
        log.warning("ENROLLWIRE_METRICS_PORT is not set: no metrics are served")
    checkout = SandboxCheckout(settings.webhook_secret, f"{settings.base_url}/webhooks/payments")
    return App(
        routes=[
            Route(
                "/graphql",
                BodyLimit(edge, settings.max_body_bytes, settings.body_timeout_seconds),
                methods=["GET", "POST"],
            ),
            WebSocketRoute("/graphql", edge),
            Route("/healthz", healthz),
            Route("/admin/enrollments.csv", enrollments_csv, methods=["GET"]),
            Route("/readyz", readyz),
            *sandbox_job_routes(settings),
            Route(
                "/webhooks/payments",
                webhook_endpoint([settings.webhook_secret], metrics.webhook_delivery, bad_signatures),
                methods=["POST"],
            ),
            Route(
                "/webhooks/ikhokha",
                ikhokha_endpoint(metrics.webhook_delivery, bad_signatures),
                methods=["POST"],
            ),
            *(checkout.routes() if settings.sandbox_enabled else []),
            *(ikpay.routes() if ikpay is not None else []),
            *page_routes(settings),
            *([Route("/metrics", metrics.endpoint())] if public_metrics else []),
        ],
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                HostCheck,
                allowed_hosts=allowed_hosts(settings.base_url, settings.dev_features, settings.allowed_hosts),
            ),
            Middleware(RequestId),
        ],
        lifespan=lifespan,
    )


async def readiness_checks(runtime: Runtime) -> dict[str, str]:
    return {"mongodb": await _ping_mongo(runtime.mongo), "redis": _hub_state(runtime.hub)}


async def readiness(runtime: Runtime) -> Response:
    checks = await readiness_checks(runtime)
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


async def _ping_mongo(client: AsyncMongoClient[Doc]) -> str:
    try:
        async with asyncio.timeout(2):
            await client.admin.command("ping")
    except Exception as error:
        return type(error).__name__
    return "ok"


def cache_counts(documents: CacheStats, tokens: VerifiedTokens) -> dict[str, tuple[int, int]]:
    return {
        "parse": (documents.parse_hits, documents.parse_misses),
        "validate": (documents.validate_hits, documents.validate_misses),
        "token": (tokens.hits, tokens.misses),
    }


def _hub_state(hub: Hub) -> str:
    return "ok" if hub.healthy else "unreachable"
