"""Use cases around provisioning jobs: mirror a job onto its enrollment, let an admin retry one."""

from __future__ import annotations

from datetime import timedelta

from domain.changes import Changes, not_found, record_change
from domain.enrollment import AccessStatus, Enrollment
from domain.errors import DomainError, ErrorCode, forbidden
from domain.events import EventType
from domain.jobs import Job, JobKind, access_status_for
from domain.notifications import access_notices
from domain.viewer import Viewer

# A job state younger than this is still being mirrored by the worker that wrote it.
MIRROR_GRACE = timedelta(seconds=30)


async def mirror_access(changes: Changes, job: Job) -> None:
    """Show a PROVISION_ACCESS job's state as the enrollment's `access`, and push the change."""
    if job.kind is not JobKind.PROVISION_ACCESS:
        return
    enrollment = await changes.enrollments.set_access(
        job.enrollment_id,
        access_status_for(job.status),
        job.attempts,
        job.last_error,
        job.revision,
        job.result,
    )
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


async def retry_job(changes: Changes, job_id: str) -> Job:
    """A DEAD job runs again with a fresh attempt budget."""
    job = await changes.jobs.retry_dead(job_id, changes.clock.now())
    if job is None:
        if await changes.jobs.get(job_id) is None:
            raise DomainError.of(ErrorCode.JOB_NOT_FOUND, "no such job", "id")
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, "only a DEAD job can be retried", "id")
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
    retried = None if job is None else await changes.jobs.retry_dead(job.id, changes.clock.now())
    if retried is None:  # retried meanwhile by someone else
        raise refused
    await mirror_access(changes, retried)
    return await changes.enrollments.get(enrollment_id) or current


async def retry_dead_jobs(changes: Changes, kind: JobKind, batch: int = 100) -> int:
    """Every DEAD job of `kind` runs again; how many did. Walks ids in order, so a job that dies
    again meanwhile is not retried twice by one call."""
    retried = 0
    after: str | None = None
    while ids := await changes.jobs.dead_ids(kind, after, batch):
        for job_id in ids:
            job = await changes.jobs.retry_dead(job_id, changes.clock.now())
            if job is not None:
                retried += 1
                await mirror_access(changes, job)
        after = ids[-1]
    return retried


async def resync_access(changes: Changes, limit: int = 100) -> int:
    """Finish mirroring job states whose worker died between the job write and the enrollment write."""
    stale = await changes.jobs.access_unsynced(changes.clock.now() - MIRROR_GRACE, limit)
    for job in stale:
        await mirror_access(changes, job)
    return len(stale)
