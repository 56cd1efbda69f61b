"""Enrollments: inserts guarded by the partial unique index, transitions as one update each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from domain.enrollment import (
    ACTIVE_STATUSES,
    AccessStatus,
    Action,
    Effect,
    Enrollment,
    EnrollmentStatus,
)
from domain.ports import NewEnrollment, Page, TransitionExtras
from store.access import access_filter, access_update
from store.database import Collections, Doc, new_id
from store.enrollment_docs import SUMMARY, draft_document, enrollment_from
from store.indexes import ONE_ACTIVE_INDEX
from store.pages import keyset_page
from store.transitions import lapse_filter, lapse_update, transition_filter, transition_update


class MongoEnrollmentStore:
    def __init__(self, collections: Collections) -> None:
        self._enrollments = collections.enrollments

    def new_id(self) -> str:
        return new_id()

    async def insert(self, draft: NewEnrollment) -> Enrollment | None:
        """None when the user already has an active enrollment in the course."""
        doc = draft_document(draft)
        try:
            # An upsert that only inserts, so createdAt/updatedAt come from the server's clock.
            created = await self._enrollments.find_one_and_update(
                {"_id": draft.id},
                {"$setOnInsert": doc, "$currentDate": {"createdAt": True, "updatedAt": True}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError as exc:
            if ONE_ACTIVE_INDEX in str(exc) or "userId" in str(exc.details or ""):
                return None
            raise
        assert created is not None
        return enrollment_from(created)

    async def get(self, enrollment_id: str) -> Enrollment | None:
        doc = await self._enrollments.find_one({"_id": enrollment_id})
        return None if doc is None else enrollment_from(doc)

    async def get_many(self, enrollment_ids: Sequence[str]) -> dict[str, Enrollment]:
        # Whole documents, delivery log included: this serves the admin's webhookDeliveries.
        cursor = self._enrollments.find({"_id": {"$in": list(enrollment_ids)}})
        return {doc["_id"]: enrollment_from(doc) async for doc in cursor}

    async def active_for(self, user_id: str, course_id: str) -> Enrollment | None:
        doc = await self._enrollments.find_one(
            {"userId": user_id, "courseId": course_id, "status": {"$in": sorted(ACTIVE_STATUSES)}}, SUMMARY
        )
        return None if doc is None else enrollment_from(doc)

    async def current_for(self, user_id: str, course_ids: Sequence[str]) -> dict[str, Enrollment]:
        # Sorted as the by_user index is and grouped on its prefix, so MongoDB reads one entry per
        # course (a DISTINCT_SCAN), not the whole history an enroll -> cancel loop can grow.
        pipeline: list[Doc] = [
            {"$match": {"userId": user_id, "courseId": {"$in": list(course_ids)}}},
            {"$sort": {"userId": 1, "courseId": 1, "version": -1}},
            {"$group": {"_id": "$courseId", "doc": {"$first": "$$ROOT"}}},
            {"$replaceRoot": {"newRoot": "$doc"}},
            {"$project": SUMMARY},
        ]
        cursor = await self._enrollments.aggregate(pipeline)
        return {doc["courseId"]: enrollment_from(doc) async for doc in cursor}

    async def recent_for(self, user_id: str, limit: int) -> list[Enrollment]:
        cursor = self._enrollments.find({"userId": user_id}, SUMMARY)
        cursor = cursor.sort([("userId", 1), ("createdAt", -1), ("_id", -1)]).limit(limit)
        return [enrollment_from(doc) async for doc in cursor]

    async def apply_transition(
        self, enrollment_id: str, action: Action, extras: TransitionExtras, *, now: datetime
    ) -> Enrollment | None:
        doc = await self._enrollments.find_one_and_update(
            transition_filter(enrollment_id, action, now, extras),
            transition_update(action, extras),
            projection=SUMMARY,
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else enrollment_from(doc)

    async def lapse_hold(self, enrollment_id: str, now: datetime) -> Enrollment | None:
        doc = await self._enrollments.find_one_and_update(
            {"_id": enrollment_id, **lapse_filter(now)},
            lapse_update(),
            projection=SUMMARY,
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else enrollment_from(doc)

    async def set_access(
        self,
        enrollment_id: str,
        status: AccessStatus,
        attempts: int,
        last_error: str | None,
        job_revision: int,
        result: Mapping[str, str] | None = None,
    ) -> Enrollment | None:
        """None when the enrollment already shows this job state or a newer one."""
        doc = await self._enrollments.find_one_and_update(
            access_filter(enrollment_id, job_revision),
            access_update(status, attempts, last_error, job_revision, result or {}),
            projection=SUMMARY,
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else enrollment_from(doc)

    async def due_lapses(self, now: datetime, limit: int) -> list[str]:
        cursor = self._enrollments.find(lapse_filter(now), {"_id": 1}).limit(limit)
        return [doc["_id"] async for doc in cursor]

    async def with_pending_effects(self, older_than: datetime, limit: int) -> list[Enrollment]:
        cursor = self._enrollments.find(
            # Names the entries, so the `by_pending` index answers it (`pending.0` is a full scan).
            {"pending": {"$in": [effect.value for effect in Effect]}, "updatedAt": {"$lt": older_than}},
            SUMMARY,
        ).limit(limit)
        return [enrollment_from(doc) async for doc in cursor]

    async def clear_pending(self, enrollment_id: str, effect: Effect) -> None:
        await self._enrollments.update_one({"_id": enrollment_id}, {"$pull": {"pending": effect.value}})

    async def set_gateway_transaction(
        self, enrollment_id: str, reference: str, transaction_id: str
    ) -> Enrollment | None:
        # No version bump: the status did not change, and a card showing it needs no new frame.
        doc = await self._enrollments.find_one_and_update(
            {"_id": enrollment_id, "paymentReference": reference},
            {"$set": {"gatewayTransactionId": transaction_id}},
            projection=SUMMARY,
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else enrollment_from(doc)

    async def page(
        self, status: EnrollmentStatus | None, course_id: str | None, first: int, after: str | None
    ) -> Page[Enrollment]:
        query: Doc = {}
        if status is not None:
            query["status"] = status.value
        if course_id is not None:
            query["courseId"] = course_id
        return await keyset_page(self._enrollments, query, first, after, enrollment_from, SUMMARY)
