"""Store-level fixtures: the real use cases over a fresh database, with a clock the test moves."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from domain.services import Services
from realtime.hub import Hub
from sandbox.embedded import ManagedServer
from server.runtime import build_services
from store.database import Collections, connect
from store.indexes import ensure_indexes
from tests.servers import test_settings


class ManualClock:
    """Time stands still until the test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        # Millisecond precision: MongoDB stores no finer, so comparisons stay exact.
        self._now = start or datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


@dataclass(frozen=True)
class StoreEnv:
    services: Services
    collections: Collections
    clock: ManualClock


@contextlib.asynccontextmanager
async def open_store(
    mongodb_url: str, redis_url: str, *, hold_seconds: float = 900
) -> AsyncIterator[StoreEnv]:
    """Services as the app builds them, on a database of their own, dropped afterwards."""
    settings = test_settings(mongodb_url, redis_url, coupon_hold_seconds=hold_seconds)
    mongo = connect(mongodb_url)
    hub = Hub(redis_url)
    try:
        collections = Collections.of(mongo, settings.mongodb_db)
        await ensure_indexes(collections)
        await hub.start()
        clock = ManualClock()
        services = dataclasses.replace(build_services(settings, collections, hub), clock=clock)
        yield StoreEnv(services, collections, clock)
        await mongo.drop_database(settings.mongodb_db)
    finally:
        await hub.stop()
        await mongo.close()


@pytest.fixture
async def store(mongo_server: ManagedServer, redis_server: ManagedServer) -> AsyncIterator[StoreEnv]:
    async with open_store(mongo_server.url, redis_server.url) as env:
        yield env


@pytest.fixture
def services(store: StoreEnv) -> Services:
    return store.services


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
