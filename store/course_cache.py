"""Courses kept in the process: small, few and rarely changed, and read by every enroll.

Kept current through the Redis hub: every course write through this store publishes the
course's id on `COURSES_CHANNEL`, and every process's cache forgets that id when the message
arrives. Nothing is served from memory unless this process is subscribed and its hub is
healthy: when the hub loses Redis, messages may be missed, so the cache is dropped whole and
every read goes to the store until the hub reconnects (its reconnection gap drops the cache
once more).

Staleness bound: a course is served from memory at most `MAX_AGE_SECONDS` after it was read
from the store, whatever happened to the messages (a publish that failed, a change written
by something other than this store). Normally a change reaches every process within the
publish's delivery time (milliseconds). A read that overlaps a change message is not kept,
so a message can never be overtaken by the value it invalidated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from domain.audit import AuditEntry
from domain.course import Course, CourseChanges
from domain.ports import CourseStore

log = logging.getLogger(__name__)

COURSES_CHANNEL = "enrollwire:courses"
MAX_AGE_SECONDS = 60.0


class ChangeChannel(Protocol):
    """What the cache needs of `realtime.hub.Hub` (the store does not import the layer above)."""

    @property
    def healthy(self) -> bool: ...
    def subscribe(
        self, channel: str, *, own: bool = ...
    ) -> AbstractAsyncContextManager[AsyncIterator[object]]: ...
    async def publish(self, channel: str, payload: bytes) -> bool: ...


class CachedCourses:
    """A `CourseStore` answering `get_course` / `get_courses` from memory when it may."""

    def __init__(
        self,
        inner: CourseStore,
        hub: ChangeChannel,
        *,
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._hub = hub
        self._max_age = max_age
        self._clock = clock
        self._entries: dict[str, tuple[float, Course]] = {}
        self._generation = 0  # bumped by every change message and gap: reads across one are not kept
        self._listening = False
        self.hits = self.misses = 0

    async def listen(self) -> None:
        """Keeps the cache current for as long as it runs (the process's life, supervised)."""
        try:
            async with self._hub.subscribe(COURSES_CHANNEL, own=True) as changes:
                self._listening = True
                async for item in changes:
                    if isinstance(item, bytes):
                        self._forget(item.decode())
                    else:  # a gap: messages may have been missed (reconnected, or overflowed)
                        self._drop_all()
        finally:
            self._listening = False
            self._drop_all()

    def _usable(self) -> bool:
        if self._listening and self._hub.healthy:
            return True
        if self._entries:
            self._drop_all()
        return False

    def _forget(self, course_id: str) -> None:
        self._generation += 1
        self._entries.pop(course_id, None)

    def _drop_all(self) -> None:
        self._generation += 1
        self._entries.clear()

    def _fresh(self, course_id: str, now: float) -> Course | None:
        entry = self._entries.get(course_id)
        if entry is None or now - entry[0] >= self._max_age:
            return None
        return entry[1]

    def _keep(self, courses: Sequence[Course], read_at: float, generation: int) -> None:
        if generation == self._generation and self._usable():
            for course in courses:
                self._entries[course.id] = (read_at, course)

    def new_id(self) -> str:
        return self._inner.new_id()

    async def get_course(self, course_id: str) -> Course | None:
        now = self._clock()
        if self._usable() and (course := self._fresh(course_id, now)) is not None:
            self.hits += 1
            return course
        self.misses += 1
        generation = self._generation
        found = await self._inner.get_course(course_id)
        if found is not None:  # an unknown id is not remembered: a course created later must show
            self._keep([found], now, generation)
        return found

    async def get_courses(self, course_ids: Sequence[str]) -> dict[str, Course]:
        now = self._clock()
        usable = self._usable()
        found: dict[str, Course] = {}
        for course_id in course_ids:
            if usable and (course := self._fresh(course_id, now)) is not None:
                found[course_id] = course
        missing = [course_id for course_id in course_ids if course_id not in found]
        self.hits += len(found)
        self.misses += len(missing)
        if missing:
            generation = self._generation
            read = await self._inner.get_courses(missing)
            self._keep(list(read.values()), now, generation)
            found |= read
        return found

    async def list_published(self) -> list[Course]:
        return await self._inner.list_published()

    async def insert_course(self, course: Course, entry: AuditEntry | None = None) -> bool:
        inserted = await self._inner.insert_course(course, entry)
        if inserted:
            await self.changed(course.id)
        return inserted

    async def update_course(
        self, course_id: str, changes: CourseChanges, entry: AuditEntry
    ) -> tuple[Course, int] | None:
        updated = await self._inner.update_course(course_id, changes, entry)
        if updated is not None:
            await self.changed(course_id)
        return updated

    async def changed(self, course_id: str) -> None:
        """Every process forgets `course_id`; every write to a course calls this after it."""
        self._forget(course_id)
        if not await self._hub.publish(COURSES_CHANNEL, course_id.encode()):
            log.warning("course %s changed but the change could not be announced", course_id)
