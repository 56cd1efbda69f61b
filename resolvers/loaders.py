"""Per-request batching: one round trip per kind of thing, however many cards a page shows."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from strawberry.dataloader import DataLoader

from domain.course import Course
from domain.enrollment import Enrollment
from domain.services import Services


class Loaders:
    """Made on first use: every socket has a context, and most never load anything.

    A WebSocket's context lives as long as the socket and serves all its operations: its
    loaders batch but do not cache (`cache=False`), or every id the socket ever named would
    stay in memory, and one operation could be served another's stale rows."""

    def __init__(self, services: Services, cache: bool = True) -> None:
        self._services = services
        self._cache = cache

    @cached_property
    def course(self) -> DataLoader[str, Course | None]:
        return DataLoader(self._load_courses, cache=self._cache)

    @cached_property
    def full_enrollment(self) -> DataLoader[str, Enrollment | None]:
        return DataLoader(self._load_full_enrollments, cache=self._cache)

    async def _load_courses(self, ids: Sequence[str]) -> list[Course | None]:
        found = await self._services.courses.get_courses(ids)
        return [found.get(i) for i in ids]

    async def _load_full_enrollments(self, ids: Sequence[str]) -> list[Enrollment | None]:
        found = await self._services.enrollments.get_many(ids)
        return [found.get(i) for i in ids]

    async def current_enrollments(self, user_id: str, course_ids: Sequence[str]) -> dict[str, Enrollment]:
        return await self._services.enrollments.current_for(user_id, course_ids)
