"""The process-local course cache over a real SecantusDB and real Redis: two caches play two
processes. A change announced by one reaches the other; with the hub cut off from Redis nothing
is served from memory; with the change message lost, the staleness bound still holds."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path

import pytest

from domain.course import Course
from domain.money import Money
from realtime.hub import Hub
from sandbox.embedded import ManagedServer, start_redis
from store.course_cache import MAX_AGE_SECONDS, CachedCourses
from store.courses import MongoCourseStore
from store.database import Collections, connect


class CountingCourses(MongoCourseStore):
    """The real store, counting the reads that reach it."""

    reads = 0

    async def get_course(self, course_id: str) -> Course | None:
        self.reads += 1
        return await super().get_course(course_id)

    async def get_courses(self, course_ids: Sequence[str]) -> dict[str, Course]:
        self.reads += 1
        return await super().get_courses(course_ids)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110  (the hub gives no signal to wait on)
            await asyncio.sleep(0.02)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[ManagedServer]:
    server = start_redis(tmp_path / "redis")
    yield server
    server.stop()


@contextlib.asynccontextmanager
async def process(
    mongo_url: str, redis_url: str, db: str, clock: Clock
) -> AsyncIterator[tuple[CachedCourses, CountingCourses, Hub]]:
    """One process's cache: its own MongoDB client, hub and listener."""
    mongo = connect(mongo_url)
    hub = Hub(redis_url, heartbeat_interval=0.2, heartbeat_timeout=0.6, reconnect_cap=0.5)
    await hub.start()
    store = CountingCourses(Collections.of(mongo, db))
    cache = CachedCourses(store, hub, clock=clock)
    listener = asyncio.create_task(cache.listen())
    try:
        await until(lambda: cache._listening)
        yield cache, store, hub
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await hub.stop()
        await mongo.close()


async def retitle(mongo_url: str, db: str, course_id: str, title: str) -> None:
    """A change written past the cache (as an admin tool or a migration would)."""
    mongo = connect(mongo_url)
    try:
        await Collections.of(mongo, db).courses.update_one({"_id": course_id}, {"$set": {"title": title}})
    finally:
        await mongo.close()


def course(course_id: str) -> Course:
    return Course(course_id, "Old title", Money(1000, "ZAR"), True)


async def test_a_change_announced_by_one_process_reaches_the_other(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    db, clock = f"course_cache_{uuid.uuid4().hex[:8]}", Clock()
    async with (
        process(mongo_server.url, redis_server.url, db, clock) as (a, a_store, _),
        process(mongo_server.url, redis_server.url, db, clock) as (b, _b_store, _),
    ):
        assert await b.insert_course(course("c1"))
        await until(lambda: a._generation > 0)  # B's announcement of the new course has reached A
        assert (await a.get_course("c1")).title == "Old title"  # type: ignore[union-attr]
        assert (await a.get_courses(["c1"]))["c1"].title == "Old title"
        assert (await a.get_course("c1")).title == "Old title"  # type: ignore[union-attr]
        assert a_store.reads == 1  # read once, then served from memory
        await retitle(mongo_server.url, db, "c1", "New title")
        await b.changed("c1")
        await until(lambda: "c1" not in a._entries)
        assert (await a.get_course("c1")).title == "New title"  # type: ignore[union-attr]
        assert a_store.reads == 2
        assert await a.get_course("nope") is None
        assert await a.get_course("nope") is None
        assert a_store.reads == 4  # unknown ids are not remembered


async def test_without_redis_nothing_is_served_from_memory(
    mongo_server: ManagedServer, own_redis: ManagedServer
) -> None:
    db, clock = f"course_cache_{uuid.uuid4().hex[:8]}", Clock()
    async with process(mongo_server.url, own_redis.url, db, clock) as (cache, store, hub):
        await cache.insert_course(course("c2"))
        await until(lambda: cache._generation >= 2)  # its own announcement came back
        await cache.get_course("c2")
        await cache.get_course("c2")
        assert store.reads == 1
        own_redis.stop()
        await until(lambda: not hub.healthy)
        # A change made while the hub cannot hear about it.
        await retitle(mongo_server.url, db, "c2", "Changed during the outage")
        assert (await cache.get_course("c2")).title == "Changed during the outage"  # type: ignore[union-attr]
        assert (await cache.get_course("c2")) is not None
        assert store.reads == 3 and cache._entries == {}  # dropped whole, every read to the store
        own_redis.start()
        await until(lambda: hub.healthy)
        await cache.get_course("c2")
        await until(lambda: bool(cache._entries))  # cached again once the hub is back
        reads = store.reads
        await cache.get_course("c2")
        assert store.reads == reads


async def test_a_lost_change_is_served_no_longer_than_the_staleness_bound(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    db, clock = f"course_cache_{uuid.uuid4().hex[:8]}", Clock()
    async with process(mongo_server.url, redis_server.url, db, clock) as (cache, _store, _hub):
        await cache.insert_course(course("c3"))
        await until(lambda: cache._generation >= 2)  # its own announcement came back
        assert (await cache.get_course("c3")).title == "Old title"  # type: ignore[union-attr]
        await retitle(mongo_server.url, db, "c3", "Changed, never announced")
        clock.now += MAX_AGE_SECONDS - 1
        assert (await cache.get_course("c3")).title == "Old title"  # type: ignore[union-attr]
        clock.now += 1
        assert (await cache.get_course("c3")).title == "Changed, never announced"  # type: ignore[union-attr]
