"""Courses: plain documents keyed by their id."""

from __future__ import annotations

from collections.abc import Sequence

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from domain.audit import AuditEntry
from domain.course import Course, CourseChanges
from domain.money import Money
from store.audit import outbox_document, outbox_push
from store.database import Collections, Doc, new_id

# A catalogue page never grows without bound; schools past this size want search, not a list.
MAX_CATALOGUE = 500


def _course(doc: Doc) -> Course:
    return Course(doc["_id"], doc["title"], Money(doc["price"], doc["currency"]), doc["published"])


class MongoCourseStore:
    def __init__(self, collections: Collections) -> None:
        self._courses = collections.courses

    def new_id(self) -> str:
        return new_id()

    async def get_course(self, course_id: str) -> Course | None:
        doc = await self._courses.find_one({"_id": course_id})
        return None if doc is None else _course(doc)

    async def get_courses(self, course_ids: Sequence[str]) -> dict[str, Course]:
        cursor = self._courses.find({"_id": {"$in": list(course_ids)}})
        return {doc["_id"]: _course(doc) async for doc in cursor}

    async def list_published(self) -> list[Course]:
        cursor = self._courses.find({"published": True}).sort("_id", 1).limit(MAX_CATALOGUE)
        return [_course(doc) async for doc in cursor]

    async def update_course(
        self, course_id: str, changes: CourseChanges, entry: AuditEntry
    ) -> tuple[Course, int] | None:
        fields = changes.fields()
        doc = await self._courses.find_one_and_update(
            {"_id": course_id},
            {"$set": fields, "$inc": {"revision": 1}, "$push": outbox_push(entry)},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else (_course(doc), doc["revision"])

    async def insert_course(self, course: Course, entry: AuditEntry | None = None) -> bool:
        doc = outbox_document(entry) | {
            "_id": course.id,
            "title": course.title,
            "price": course.price.amount,
            "currency": course.price.currency,
            "published": course.published,
        }
        try:
            await self._courses.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True
