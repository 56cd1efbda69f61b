"""Use cases around provisioning jobs: mirror a job onto its enrollment, let an admin retry one."""

from __future__ import annotations

from datetime import timedelta

from domain.changes import record_change
from domain.errors import DomainError, ErrorCode
from domain.events import EventType
from domain.jobs import Job, JobKind, access_status_for
from domain.services import Services

# A job state younger than this is still being mirrored by the worker that wrote it.
MIRROR_GRACE = timedelta(seconds=30)


async def mirror_access(services: Services, job: Job) -> None:
    """Show a PROVISION_ACCESS job's state as the enrollment's `access`, and push the change."""
    if job.kind is not JobKind.PROVISION_ACCESS:
        return
    enrollment = await services.enrollments.set_access(
        job.enrollment_id, access_status_for(job.status), job.attempts, job.last_error, job.revision
    )
    if enrollment is not None:
        await record_change(services, enrollment, EventType.STATUS_CHANGED, enrollment.status)
    await services.jobs.mark_access_synced(job)


async def retry_job(services: Services, job_id: str) -> Job:
    """A DEAD job runs again with a fresh attempt budget."""
    job = await services.jobs.retry_dead(job_id, services.clock.now())
    if job is None:
        if await services.jobs.get(job_id) is None:
            raise DomainError.of(ErrorCode.JOB_NOT_FOUND, "no such job", "id")
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, "only a DEAD job can be retried", "id")
    await mirror_access(services, job)
    return job


async def resync_access(services: Services, limit: int = 100) -> int:
    """Finish mirroring job states whose worker died between the job write and the enrollment write."""
    stale = await services.jobs.access_unsynced(services.clock.now() - MIRROR_GRACE, limit)
    for job in stale:
        await mirror_access(services, job)
    return len(stale)
