"""The dashboard's reads: each one a range of an enrollment index (store/indexes.py)."""

from __future__ import annotations

from datetime import datetime

from domain.dashboard import GroupCount, Timeline
from domain.enrollment import EnrollmentStatus, PaymentMethod
from store.database import Collections, Doc
from store.enrollment_docs import change_from

NEWEST_FIRST = [("createdAt", -1), ("_id", -1)]


def window(since: datetime) -> Doc:
    """Every dashboard read's filter: checked against the indexes with the search's shapes."""
    return {"createdAt": {"$gte": since}}


class MongoDashboardReader:
    def __init__(self, collections: Collections) -> None:
        self._enrollments = collections.enrollments

    async def counts_since(self, since: datetime) -> list[GroupCount]:
        # A `by_created` range; the grouping has at most days x statuses x methods rows.
        day = {"$dateToString": {"format": "%Y-%m-%d", "date": "$createdAt"}}
        pipeline: list[Doc] = [
            {"$match": window(since)},
            {
                "$group": {
                    "_id": {"day": day, "status": "$status", "method": "$paymentMethod"},
                    "n": {"$sum": 1},
                }
            },
        ]
        cursor = await self._enrollments.aggregate(pipeline)
        return [
            GroupCount(
                doc["_id"]["day"],
                EnrollmentStatus(doc["_id"]["status"]),
                PaymentMethod(doc["_id"]["method"]),
                doc["n"],
            )
            async for doc in cursor
        ]

    async def timelines_since(self, since: datetime, limit: int) -> list[Timeline]:
        # `by_created` read backwards from now: the newest first, only what the durations need.
        cursor = (
            self._enrollments.find(window(since), {"createdAt": 1, "history": 1})
            .sort(NEWEST_FIRST)
            .limit(limit)
        )
        return [
            Timeline(doc["createdAt"], tuple(change_from(c) for c in doc.get("history", ())))
            async for doc in cursor
        ]

    async def count_status(self, status: EnrollmentStatus) -> int:
        return await self._enrollments.count_documents({"status": status.value})  # `by_status`
