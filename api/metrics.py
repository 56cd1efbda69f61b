"""Prometheus metrics: one registry per app (several apps may share a test process)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from api.lag import LagHistogram
from domain.coupon import ReservationOutcome
from domain.jobs import JobKind, JobStats, JobStatus
from realtime.hub import HubStats

log = logging.getLogger(__name__)

MAX_OPERATION_NAMES = 200
JOB_STATS_TIMEOUT = 2.0
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
# A gateway call ends by 10 s (its timeout); a student pays within minutes, or the checkout expires.
GATEWAY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15)
CONFIRMATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)
# An admin decides within minutes in office hours, or by the next working day.
APPROVAL_BUCKETS = (60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600)


class HubCollector(Collector):
    """Reads the hub's own counters at scrape time, so the hot path counts nothing twice."""

    def __init__(self, stats: Callable[[], HubStats | None]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        if stats is None:
            return
        yield CounterMetricFamily(
            "enrollwire_realtime_published", "Realtime events published to Redis", value=stats.published
        )
        yield CounterMetricFamily(
            "enrollwire_realtime_received", "Realtime events received from Redis", value=stats.received
        )
        yield CounterMetricFamily(
            "enrollwire_realtime_dropped",
            "Events dropped for slow subscribers (coalesced or resynced)",
            value=stats.dropped,
        )
        yield CounterMetricFamily(
            "enrollwire_realtime_publish_failures",
            "Publishes that failed (logged, never fatal)",
            value=stats.publish_failures,
        )
        yield CounterMetricFamily(
            "enrollwire_realtime_reconnects", "Redis subscription reconnects", value=stats.reconnects
        )
        yield GaugeMetricFamily(
            "enrollwire_realtime_channels", "Redis channels subscribed by this process", value=stats.channels
        )
        yield GaugeMetricFamily(
            "enrollwire_realtime_local_subscribers", "Local hub subscribers", value=stats.subscribers
        )


class CacheCollector(Collector):
    """Hits and misses of the per-process caches (parse, validate, token), read at scrape time."""

    def __init__(self, counts: Callable[[], dict[str, tuple[int, int]]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "enrollwire_cache_lookups", "Lookups in the per-process caches", labels=["cache", "result"]
        )
        for cache, (hits, misses) in self._counts().items():
            family.add_metric([cache, "hit"], hits)
            family.add_metric([cache, "miss"], misses)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._names: set[str] = {"other"}
        r = self.registry
        self.operations = Counter(
            "enrollwire_graphql_operations",
            "GraphQL operations",
            ["operation", "type", "outcome"],
            registry=r,
        )
        self.operation_seconds = Histogram(
            "enrollwire_graphql_operation_seconds",
            "GraphQL operation latency",
            ["operation", "type"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.websockets = Gauge("enrollwire_websockets_open", "Open WebSocket connections", registry=r)
        self.subscriptions = Gauge(
            "enrollwire_subscriptions_active", "Active GraphQL subscriptions", ["field"], registry=r
        )
        self.webhook_deliveries = Counter(
            "enrollwire_webhook_deliveries", "Payment webhook deliveries", ["outcome"], registry=r
        )
        self.coupon_reservations = Counter(
            "enrollwire_coupon_reservations", "Coupon reservation attempts", ["outcome"], registry=r
        )
        self.job_attempts = Counter(
            "enrollwire_job_attempts",
            "Job attempts by kind and result (succeeded, retry, dead, released, lease_lost)",
            ["kind", "result"],
            registry=r,
        )
        self.gateway_requests = Counter(
            "enrollwire_gateway_requests",
            "Card gateway calls by operation and outcome (ok, timeout, unreachable, http_5xx, refused)",
            ["gateway", "operation", "outcome"],
            registry=r,
        )
        self.gateway_seconds = Histogram(
            "enrollwire_gateway_request_seconds",
            "Card gateway call latency",
            ["gateway", "operation"],
            buckets=GATEWAY_BUCKETS,
            registry=r,
        )
        self.payment_confirmation = Histogram(
            "enrollwire_payment_confirmation_seconds",
            "From a checkout opened at the gateway to its enrollment APPROVED",
            ["gateway"],
            buckets=CONFIRMATION_BUCKETS,
            registry=r,
        )
        self.enrollments = Counter(
            "enrollwire_enrollments",
            "Enrollment outcomes by payment method (created, approved, rejected, payment_failed, "
            "cancelled, revoked)",
            ["method", "outcome"],
            registry=r,
        )
        self.approval_wait = Histogram(
            "enrollwire_approval_wait_seconds",
            "From an EFT enrollment created to an admin's decision on it",
            buckets=APPROVAL_BUCKETS,
            registry=r,
        )
        self.jobs = Gauge(
            "enrollwire_jobs",
            "Jobs in the whole queue by status, read from the database at scrape time",
            ["status"],
            registry=r,
        )
        self.rate_limited_requests = Counter(
            "enrollwire_rate_limited",
            "Requests, sockets and deliveries refused by a rate limit (api.rate_limits)",
            ["rule"],
            registry=r,
        )
        self.rate_limit_fail_open = Counter(
            "enrollwire_rate_limit_fail_open",
            "Limit checks let through without counting because Redis did not answer",
            ["rule"],
            registry=r,
        )
        self.jobs_oldest_pending = Gauge(
            "enrollwire_jobs_oldest_pending_seconds",
            "Age of the oldest PENDING job of each kind (0: none pending), read at scrape time",
            ["kind"],
            registry=r,
        )
        self.ready = Gauge(
            "enrollwire_ready",
            "1 when MongoDB and Redis answer (what /readyz answers), checked at scrape time",
            registry=r,
        )
        self._readiness: Callable[[], Awaitable[dict[str, str]]] | None = None
        self._job_stats: Callable[[], Awaitable[JobStats]] | None = None
        self._oldest_pending: Callable[[], Awaitable[dict[JobKind, float]]] | None = None
        self.realtime_lag = LagHistogram(
            "enrollwire_realtime_lag_seconds",
            "From the database write's acknowledgement to the frame written to the socket",
            LATENCY_BUCKETS,
        )
        r.register(self.realtime_lag)

    def record(self, name: str, kind: str, outcome: str, seconds: float | None) -> None:
        # Operation names are client-chosen: a bounded set of series, the rest counted as "other".
        if name not in self._names:
            if len(self._names) >= MAX_OPERATION_NAMES or len(name) > 64:
                name = "other"
            else:
                self._names.add(name)
        self.operations.labels(name, kind, outcome).inc()
        if seconds is not None:
            self.operation_seconds.labels(name, kind).observe(seconds)

    # The live side (realtime.feeds.LiveMetrics, api.graphql_view.SocketGauge).
    def socket_opened(self) -> None:
        self.websockets.inc()

    def socket_closed(self) -> None:
        self.websockets.dec()

    def subscription_opened(self, field: str) -> None:
        self.subscriptions.labels(field).inc()

    def subscription_closed(self, field: str) -> None:
        self.subscriptions.labels(field).dec()

    def frame_lag(self, field: str, seconds: float) -> None:
        self.realtime_lag.observe(field, max(0.0, seconds))

    # Outcomes decided elsewhere (domain.ports.Observer, the webhook route, the job workers).
    def coupon_reservation(self, outcome: ReservationOutcome) -> None:
        self.coupon_reservations.labels(outcome.value).inc()

    def gateway_request(self, gateway: str, operation: str, outcome: str, seconds: float) -> None:
        self.gateway_requests.labels(gateway, operation, outcome).inc()
        self.gateway_seconds.labels(gateway, operation).observe(seconds)

    def payment_confirmed(self, gateway: str, seconds: float) -> None:
        self.payment_confirmation.labels(gateway).observe(seconds)

    def enrollment_outcome(self, method: str, outcome: str) -> None:
        self.enrollments.labels(method, outcome).inc()

    def approval_waited(self, seconds: float) -> None:
        self.approval_wait.observe(seconds)

    def webhook_delivery(self, outcome: str) -> None:
        self.webhook_deliveries.labels(outcome).inc()

    def rate_limited(self, rule: str) -> None:
        self.rate_limited_requests.labels(rule).inc()

    def rate_limit_failed_open(self, rule: str) -> None:
        self.rate_limit_fail_open.labels(rule).inc()

    def job_attempt(self, kind: JobKind, result: str) -> None:
        self.job_attempts.labels(kind.value.lower(), result).inc()

    def watch_hub(self, stats: Callable[[], HubStats | None]) -> None:
        self.registry.register(HubCollector(stats))

    def watch_caches(self, counts: Callable[[], dict[str, tuple[int, int]]]) -> None:
        """`counts`: cache name -> (hits, misses)."""
        self.registry.register(CacheCollector(counts))

    def watch_readiness(self, checks: Callable[[], Awaitable[dict[str, str]]]) -> None:
        self._readiness = checks

    async def _refresh_readiness(self) -> None:
        if self._readiness is not None:
            checks = await self._readiness()
            self.ready.set(1 if all(v == "ok" for v in checks.values()) else 0)

    def watch_jobs(
        self,
        stats: Callable[[], Awaitable[JobStats]],
        oldest_pending: Callable[[], Awaitable[dict[JobKind, float]]],
    ) -> None:
        self._job_stats = stats
        self._oldest_pending = oldest_pending

    async def _refresh_jobs(self) -> None:
        if self._job_stats is None or self._oldest_pending is None:
            return
        try:
            async with asyncio.timeout(JOB_STATS_TIMEOUT):
                stats = await self._job_stats()
                oldest = await self._oldest_pending()
        except Exception as error:
            # A scrape still answers; the gauges keep their last values.
            log.warning("job counts unavailable for /metrics: %s", type(error).__name__)
            return
        counts = {
            JobStatus.PENDING: stats.pending,
            JobStatus.RUNNING: stats.running,
            JobStatus.SUCCEEDED: stats.succeeded,
            JobStatus.DEAD: stats.dead,
        }
        for status, count in counts.items():
            self.jobs.labels(status.value.lower()).set(count)
        for kind in JobKind:
            self.jobs_oldest_pending.labels(kind.value.lower()).set(oldest.get(kind, 0.0))

    def endpoint(self) -> Callable[[Request], Awaitable[Response]]:
        async def metrics(request: Request) -> Response:
            await self._refresh_readiness()
            await self._refresh_jobs()
            return Response(
                generate_latest(self.registry), media_type="text/plain; version=0.0.4; charset=utf-8"
            )

        return metrics
