"""Prometheus metrics: one registry per app (several apps may share a test process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from realtime.hub import HubStats

MAX_OPERATION_NAMES = 200
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


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
        self.jobs = Counter(
            "enrollwire_jobs", "Job attempts by kind and result", ["kind", "result"], registry=r
        )
        self.realtime_lag = Histogram(
            "enrollwire_realtime_lag_seconds",
            "From the database write's acknowledgement to the frame handed to the socket",
            ["field"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def record(self, name: str, kind: str, outcome: str, seconds: float) -> None:
        # Operation names are client-chosen: a bounded set of series, the rest counted as "other".
        if name not in self._names:
            if len(self._names) >= MAX_OPERATION_NAMES or len(name) > 64:
                name = "other"
            else:
                self._names.add(name)
        self.operations.labels(name, kind, outcome).inc()
        self.operation_seconds.labels(name, kind).observe(seconds)

    def watch_hub(self, stats: Callable[[], HubStats | None]) -> None:
        self.registry.register(HubCollector(stats))

    def endpoint(self) -> Callable[[Request], Response]:
        def metrics(request: Request) -> Response:
            return Response(
                generate_latest(self.registry), media_type="text/plain; version=0.0.4; charset=utf-8"
            )

        return metrics
