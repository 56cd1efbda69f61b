"""The audit log's entries: one per change of an enrollment, one per admin action on anything else.

An enrollment's entry is its history entry, copied: the change's own conditional write appends
the history entry and puts `Effect.AUDIT` in the outbox, and the copy is keyed by the enrollment
id and version, so copying twice (a crash, a sweep, two writers) inserts it once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.actors import Actor, audit_id
from domain.enrollment import ChangeRecord, Enrollment


@dataclass(frozen=True)
class AuditEntry:
    id: str
    at: datetime
    actor: Actor
    action: str
    enrollment_id: str | None = None
    target_id: str | None = None  # the student of an enrollment; the course, coupon or job otherwise
    detail: str | None = None  # JSON text


class AuditSource(StrEnum):
    """Where an admin's change to something other than an enrollment is written, with its entry."""

    COURSES = "courses"
    COUPONS = "coupons"
    JOBS = "jobs"


@dataclass(frozen=True)
class AuditFilter:
    actor_id: str | None = None
    action: str | None = None
    enrollment_id: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def entry_of(enrollment: Enrollment, change: ChangeRecord) -> AuditEntry:
    detail = {
        "version": change.version,
        "status": change.status.value,
        "previousStatus": None if change.previous_status is None else change.previous_status.value,
        "reason": change.reason,
        "courseId": enrollment.course_id,
    }
    return AuditEntry(
        id=audit_id(enrollment.id, change.version),
        at=change.at,
        actor=change.actor,
        action=change.action,
        enrollment_id=enrollment.id,
        target_id=enrollment.user_id,
        detail=json.dumps(detail, separators=(",", ":")),
    )


def detail_of(**fields: object) -> str:
    return json.dumps(fields, separators=(",", ":"), default=str)
