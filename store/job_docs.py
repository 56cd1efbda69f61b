"""Job documents to domain values, and the documents a new job starts as."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.enrollment import Enrollment
from domain.jobs import APPROVAL_KINDS, Job, JobKind, JobStatus, job_id
from domain.notifications import Notice, Template, approval_data
from store.database import Doc


def job_from(doc: Doc) -> Job:
    return Job(
        id=doc["_id"],
        kind=JobKind(doc["kind"]),
        enrollment_id=doc["enrollmentId"],
        user_id=doc["userId"],
        course_id=doc["courseId"],
        email=doc.get("email"),
        status=JobStatus(doc["status"]),
        attempts=doc["attempts"],
        next_run_at=doc.get("nextRunAt"),
        last_error=doc.get("lastError"),
        created_at=doc["createdAt"],
        updated_at=doc["updatedAt"],
        lease_owner=doc.get("leaseOwner"),
        lease_expires_at=doc.get("leaseExpiresAt"),
        round_start=doc.get("roundStart", 0),
        revision=doc.get("revision", 0),
        reference=doc.get("reference"),
        result=doc.get("result"),
        round_started_at=doc.get("roundStartedAt"),
        template=doc.get("template"),
        data=doc.get("data"),
    )


def notice_id(enrollment_id: str, notice: Notice) -> str:
    return f"{job_id(enrollment_id, notice.kind)}:{notice.template}:{notice.key}"


def new_job(enrollment: Enrollment, kind: JobKind, now: datetime) -> Doc:
    return {
        "kind": kind.value,
        "enrollmentId": enrollment.id,
        "userId": enrollment.user_id,
        "courseId": enrollment.course_id,
        "email": enrollment.email,
        "status": JobStatus.PENDING.value,
        "attempts": 0,
        "roundStart": 0,
        "revision": 0,
        "nextRunAt": now,
        "lastError": None,
        "errors": [],
        "leaseOwner": None,
        "leaseExpiresAt": None,
        "accessDirty": False,
        "createdAt": now,
        "updatedAt": now,
    }


def approval_notice(enrollment: Enrollment, kind: JobKind) -> Doc:
    if kind is not JobKind.NOTIFY_STUDENT:
        return {}
    return {"template": Template.APPROVED.value, "data": approval_data(enrollment)}


def keyed(key: str, doc: Doc) -> Doc:
    """A new job's document under its id: the key that makes writing it twice change nothing."""
    return {"_id": key} | doc


def notice_job(enrollment: Enrollment, notice: Notice, now: datetime) -> Doc:
    return new_job(enrollment, notice.kind, now) | {"template": notice.template, "data": dict(notice.data)}


def effect_jobs(
    approved: Sequence[Enrollment],
    revoked: Sequence[Enrollment],
    notices: Sequence[tuple[Enrollment, Notice]],
    now: datetime,
) -> list[Doc]:
    """The jobs settled outboxes call for (approval's, revocations, notices), each under its key."""
    docs = [
        keyed(job_id(enrollment.id, kind), new_job(enrollment, kind, now) | approval_notice(enrollment, kind))
        for enrollment in approved
        for kind in APPROVAL_KINDS
    ]
    revoke = JobKind.REVOKE_ACCESS
    docs += [keyed(job_id(enrollment.id, revoke), new_job(enrollment, revoke, now)) for enrollment in revoked]
    docs += [keyed(notice_id(e.id, notice), notice_job(e, notice, now)) for e, notice in notices]
    return docs
