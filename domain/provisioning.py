"""Use cases around provisioning jobs: mirror a job onto its enrollment, let an admin retry one."""

from __future__ import annotations

from datetime import timedelta

from domain.changes import Changes, record_change
from domain.errors import DomainError, ErrorCode
from domain.events import EventType
from domain.jobs import Job, JobKind, access_status_for

# A job state younger than this is still being mirrored by the worker that wrote it.
MIRROR_GRACE = timedelta(seconds=30)


async def mirror_access(changes: Changes, job: Job) -> None:
    """Show a PROVISION_ACCESS job's state as the enrollment's `access`, and push the change."""
    if job.kind is not JobKind.PROVISION_ACCESS:
        return
    enrollment = await changes.enrollments.set_access(
        job.enrollment_id, access_status_for(job.status), job.attempts, job.last_error, job.revision
    )
    if enrollment is not None:
        await record_change(changes, enrollment, EventType.STATUS_CHANGED, enrollment.status)
    await changes.jobs.mark_access_synced(job)


async def retry_job(changes: Changes, job_id: str) -> Job:
    """A DEAD job runs again with a fresh attempt budget."""
    job = await changes.jobs.retry_dead(job_id, changes.clock.now())
    if job is None:
        if await changes.jobs.get(job_id) is None:
            raise DomainError.of(ErrorCode.JOB_NOT_FOUND, "no such job", "id")
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, "only a DEAD job can be retried", "id")
    await mirror_access(changes, job)
    return job


async def resync_access(changes: Changes, limit: int = 100) -> int:
    """Finish mirroring job states whose worker died between the job write and the enrollment write."""
    stale = await changes.jobs.access_unsynced(changes.clock.now() - MIRROR_GRACE, limit)
    for job in stale:
        await mirror_access(changes, job)
    return len(stale)
