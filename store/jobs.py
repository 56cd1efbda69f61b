"""Provisioning jobs: written idempotently, ids derived from the enrollment so a retry never duplicates."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pymongo import ASCENDING, IndexModel, UpdateOne

from domain.enrollment import Enrollment
from store.database import Collections


class JobKind(StrEnum):
    PROVISION_ACCESS = "PROVISION_ACCESS"
    NOTIFY_STUDENT = "NOTIFY_STUDENT"


class JobStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    DEAD = "DEAD"


JOB_INDEXES = [
    IndexModel([("status", ASCENDING), ("nextRunAt", ASCENDING)], name="claimable"),
    IndexModel([("status", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)], name="by_status"),
    IndexModel([("enrollmentId", ASCENDING)], name="by_enrollment"),
]


def job_id(enrollment_id: str, kind: JobKind) -> str:
    return f"{enrollment_id}:{kind.value.lower()}"


class MongoJobQueue:
    def __init__(self, collections: Collections) -> None:
        self._jobs = collections.jobs

    async def enqueue_for_approval(self, enrollment: Enrollment) -> None:
        now = datetime.now(UTC)
        writes = [
            UpdateOne(
                {"_id": job_id(enrollment.id, kind)},
                {
                    "$setOnInsert": {
                        "kind": kind.value,
                        "enrollmentId": enrollment.id,
                        "userId": enrollment.user_id,
                        "courseId": enrollment.course_id,
                        "email": enrollment.email,
                        "status": JobStatus.PENDING.value,
                        "attempts": 0,
                        "nextRunAt": now,
                        "lastError": None,
                        "errors": [],
                        "leaseOwner": None,
                        "leaseExpiresAt": None,
                        "createdAt": now,
                        "updatedAt": now,
                    }
                },
                upsert=True,
            )
            for kind in JobKind
        ]
        await self._jobs.bulk_write(writes, ordered=False)
