"""Enrollments: inserts guarded by the partial unique index, transitions as one update each."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError, WriteError

from domain.actors import Cause
from domain.enrollment import (
    ACTIVE_STATUSES,
    AccessStatus,
    Action,
    Effect,
    Enrollment,
)
from domain.enrollment_filter import EnrollmentFilter
from domain.group_commit import GroupCommit
from domain.jobs import Job
from domain.ports import NewEnrollment, Page, TransitionExtras
from store.access import access_filter, access_update
from store.database import DUPLICATE_KEY, Collections, Doc, insert_each, new_id
from store.enrollment_docs import SUMMARY, draft_document, enrollment_from
from store.enrollment_query import SORT, filter_query
from store.indexes import ONE_ACTIVE_INDEX
from store.pages import keyset_page
from store.transitions import lapse_filter, lapse_update, literal, transition_filter, transition_update

# The by_user index's order: each course's highest version (its current enrollment) first.
_LATEST = [("userId", 1), ("courseId", 1), ("version", -1)]


@dataclass
class _Insert:
    doc: Doc
    refused: Mapping[str, Any] | None = None  # the store's write error, when it refused the document


class MongoEnrollmentStore:
    def __init__(self, collections: Collections) -> None:
        self._enrollments = collections.enrollments
        self._inserts = GroupCommit(self._insert_many)

    def new_id(self) -> str:
        return new_id()

    async def insert(self, draft: NewEnrollment) -> Enrollment | None:
        """None when the user already has an active enrollment in the course.

        A plain insert: the document is known as written, times included, so nothing is read
        back. Inserts made at once share one unordered `insert_many` (a group commit), which
        says which documents a unique index refused.
        """
        insert = _Insert(draft_document(draft))
        await self._inserts.submit(insert)
        refused = insert.refused
        if refused is None:
            return enrollment_from(insert.doc)
        if refused.get("code") != DUPLICATE_KEY:
            raise WriteError(refused.get("errmsg", "insert refused"), refused.get("code"), dict(refused))
        if ONE_ACTIVE_INDEX in str(refused.get("errmsg")) or "userId" in (refused.get("keyPattern") or {}):
            return None  # the user has an active enrollment in the course
        raise DuplicateKeyError(refused.get("errmsg", "duplicate key"), DUPLICATE_KEY, dict(refused))

    async def _insert_many(self, inserts: list[_Insert]) -> None:
        refused = await insert_each(self._enrollments, [insert.doc for insert in inserts])
        if not refused:
            return
        # A refused document already stored under its own new id was written by an earlier try of
        # this very insert (a batch that failed as a whole is written again one by one), whichever
        # index now refuses it: one read for the whole batch tells those apart.
        ids = [inserts[index].doc["_id"] for index in refused]
        written = {doc["_id"] async for doc in self._enrollments.find({"_id": {"$in": ids}}, {"_id": 1})}
        for index, error in refused.items():
            if inserts[index].doc["_id"] not in written:
                inserts[index].refused = error

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
        if len(course_ids) == 1:
            # One course (an enroll, one card): the by_user index's first entry, without the
            # aggregation's cursor machinery on either side.
            [course_id] = course_ids
            query = {"userId": user_id, "courseId": course_id}
            doc = await self._enrollments.find_one(query, SUMMARY, sort=_LATEST)
            return {} if doc is None else {course_id: enrollment_from(doc)}
        # Sorted as the by_user index is and grouped on its prefix, so MongoDB reads one entry per
        # course (a DISTINCT_SCAN), not the whole history an enroll -> cancel loop can grow.
        pipeline: list[Doc] = [
            {"$match": {"userId": user_id, "courseId": {"$in": list(course_ids)}}},
            {"$sort": dict(_LATEST)},
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

    async def lapse_hold(self, enrollment_id: str, now: datetime, cause: Cause) -> Enrollment | None:
        doc = await self._enrollments.find_one_and_update(
            {"_id": enrollment_id, **lapse_filter(now)},
            lapse_update(cause),
            projection=SUMMARY,
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else enrollment_from(doc)

    async def set_access(self, job: Job, status: AccessStatus, cause: Cause) -> Enrollment | None:
        """None when the enrollment already shows this job state or a newer one.

        A conditional update and then a read by `_id`, not one `findAndModify`: the embedded
        test store scans the whole collection for every `findAndModify` (docs/research), and this
        runs several times per approval, off the request path. The read may already show a later
        change; that change publishes and settles itself too, and both are idempotent.
        """
        written = await self._enrollments.update_one(
            access_filter(job.enrollment_id, job.kind, job.revision), access_update(job, status, cause)
        )
        if not written.modified_count:
            return None
        doc = await self._enrollments.find_one({"_id": job.enrollment_id}, SUMMARY)
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

    async def clear_pending(self, settled: Sequence[Enrollment]) -> None:
        writes = [_cleared(enrollment) for enrollment in settled if enrollment.pending]
        if writes:
            await self._enrollments.bulk_write(writes, ordered=False)

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

    async def page(self, where: EnrollmentFilter, first: int, after: str | None) -> Page[Enrollment]:
        query = filter_query(where)
        return await keyset_page(self._enrollments, query, first, after, enrollment_from, SUMMARY)

    async def batches(self, where: EnrollmentFilter, size: int) -> AsyncIterator[list[Enrollment]]:
        # One cursor, fetched `size` documents per round trip: the client holds one batch at a time.
        cursor = self._enrollments.find(filter_query(where), SUMMARY).sort(SORT).batch_size(size)
        batch: list[Enrollment] = []
        try:
            async for doc in cursor:
                batch.append(enrollment_from(doc))
                if len(batch) == size:
                    yield batch
                    batch = []
            if batch:
                yield batch
        finally:
            await cursor.close()  # a download cut short leaves no cursor open on the server


def _cleared(enrollment: Enrollment) -> UpdateOne:
    done = sorted(effect.value for effect in enrollment.pending)
    kept_if_changed = [e for e in done if e != Effect.AUDIT.value]
    unchanged = {"$eq": ["$version", enrollment.version]}
    cleared = {"$cond": [unchanged, literal(done), literal(kept_if_changed)]}
    fields: Doc = {"pending": {"$setDifference": ["$pending", cleared]}}
    if Effect.AUDIT in enrollment.pending:
        # Every change up to the version read is in the log now: later settles copy only newer ones.
        audited = {"$ifNull": ["$auditedVersion", 0]}
        fields["auditedVersion"] = {"$cond": [unchanged, {"$max": [audited, enrollment.version]}, audited]}
    return UpdateOne({"_id": enrollment.id}, [{"$set": fields}])
