"""Use cases around provisioning jobs: mirror a job onto its enrollment, let an admin retry one."""

from __future__ import annotations

from datetime import timedelta

from domain.actors import SYSTEM, Cause, SystemAction
from domain.admin_log import AdminLog
from domain.audit import AuditSource
from domain.changes import Changes, not_found, record_change
from domain.enrollment import AccessStatus, Enrollment
from domain.errors import DomainError, ErrorCode, forbidden
from domain.events import EventType
from domain.jobs import ACCESS_KINDS, Job, JobKind, access_status_for
from domain.notifications import access_notices
from domain.viewer import Viewer

# A job state younger than this is still being mirrored by the worker that wrote it.
MIRROR_GRACE = timedelta(seconds=30)


async def mirror_access(changes: Changes, job: Job) -> None:
    """Show an access job's state (`ACCESS_KINDS`) as the enrollment's `access`, and push the change."""
    if job.kind not in ACCESS_KINDS:
        return
    status = access_status_for(job.kind, job.status)
    enrollment = await changes.enrollments.set_access(job, status, _cause(job.kind, status))
    if enrollment is not None:
        await record_change(changes, enrollment, EventType.STATUS_CHANGED, enrollment.status)
    notices = access_notices(job)
    if notices and enrollment is None:
        # Shown first by another writer (a sweep after a crash): told anyway, the key dedupes.
        enrollment = await changes.enrollments.get(job.enrollment_id)
    if enrollment is not None:
        for notice in notices:
            await changes.jobs.enqueue_notice(enrollment, notice)
    await changes.jobs.mark_access_synced(job)


def _cause(kind: JobKind, status: AccessStatus) -> Cause:
    if status is AccessStatus.PROVISIONED:
        return Cause(SYSTEM, SystemAction.ACCESS_PROVISIONED.value)
    if status is AccessStatus.REVOKED:
        return Cause(SYSTEM, SystemAction.ACCESS_REVOKED.value)
    # FAILED: out of attempts; PENDING: an attempt failed (or an admin retried), another follows.
    action = SystemAction.ACCESS_FAILED.value
    reason = "revoking" if kind is JobKind.REVOKE_ACCESS else "provisioning"
    return Cause(SYSTEM, action, reason if status is AccessStatus.FAILED else f"{reason}, retrying")


async def retry_job(changes: Changes, admin: Viewer, job_id: str, action: str = "retryJob") -> Job:
    """A DEAD job runs again with a fresh attempt budget."""
    log = AdminLog(changes.audit, changes.clock, admin)
    entry = log.entry(action, job_id, None)
    job = await changes.jobs.retry_dead(job_id, changes.clock.now(), entry)
    if job is None:
        if await changes.jobs.get(job_id) is None:
            raise DomainError.of(ErrorCode.JOB_NOT_FOUND, "no such job", "id")
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, "only a DEAD job can be retried", "id")
    await log.settle(AuditSource.JOBS, job.id)
    await mirror_access(changes, job)
    return job


async def retry_access(changes: Changes, viewer: Viewer, enrollment_id: str) -> Enrollment:
    """The student (or an admin) asks again after access FAILED: its PROVISION_ACCESS job runs again."""
    current = await changes.enrollments.get(enrollment_id)
    if current is None:
        raise not_found()
    if not viewer.is_admin and current.user_id != viewer.user_id:
        raise forbidden("only the student who enrolled or an admin may retry access")
    refused = DomainError.of(
        ErrorCode.INVALID_TRANSITION, "access can be retried only once it has FAILED", "enrollmentId"
    )
    if current.access.status is not AccessStatus.FAILED:
        raise refused
    job = await changes.jobs.job_of(enrollment_id, JobKind.PROVISION_ACCESS)
    log = AdminLog(changes.audit, changes.clock, viewer)
    retried = (
        None
        if job is None
        else await changes.jobs.retry_dead(
            job.id, changes.clock.now(), log.entry("retryAccess", job.id, None)
        )
    )
    if retried is None:  # retried meanwhile by someone else
        raise refused
    await log.settle(AuditSource.JOBS, retried.id)
    await mirror_access(changes, retried)
    return await changes.enrollments.get(enrollment_id) or current


async def retry_dead_jobs(changes: Changes, admin: Viewer, kind: JobKind, batch: int = 100) -> int:
    """Every DEAD job of `kind` runs again; how many did. Walks ids in order, so a job that dies
    again meanwhile is not retried twice by one call. One audit entry per job retried."""
    log = AdminLog(changes.audit, changes.clock, admin)
    retried = 0
    after: str | None = None
    while ids := await changes.jobs.dead_ids(kind, after, batch):
        for job_id in ids:
            entry = log.entry("retryDeadJobs", job_id, None)
            job = await changes.jobs.retry_dead(job_id, changes.clock.now(), entry)
            if job is not None:
                retried += 1
                await log.settle(AuditSource.JOBS, job.id)
                await mirror_access(changes, job)
        after = ids[-1]
    return retried


async def resync_access(changes: Changes, limit: int = 100) -> int:
    """Finish mirroring job states whose worker died between the job write and the enrollment write."""
    stale = await changes.jobs.access_unsynced(changes.clock.now() - MIRROR_GRACE, limit)
    for job in stale:
        await mirror_access(changes, job)
    return len(stale)
