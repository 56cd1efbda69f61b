"""Use cases around provisioning jobs: mirror a job onto its enrollment, let an admin retry one."""

from __future__ import annotations

from datetime import timedelta

from domain.actors import SYSTEM, Cause, SystemAction
from domain.admin_log import AdminLog
from domain.audit import AuditSource
from domain.changes import Changes, record_change
from domain.enrollment import AccessStatus
from domain.errors import DomainError, ErrorCode
from domain.events import EventType
from domain.jobs import ACCESS_KINDS, Job, JobKind, access_status_for
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


async def resync_access(changes: Changes, limit: int = 100) -> int:
    """Finish mirroring job states whose worker died between the job write and the enrollment write."""
    stale = await changes.jobs.access_unsynced(changes.clock.now() - MIRROR_GRACE, limit)
    for job in stale:
        await mirror_access(changes, job)
    return len(stale)
