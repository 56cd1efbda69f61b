"""Admin views of the provisioning jobs: list, stats, and retrying a DEAD job."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import strawberry

from domain import provisioning
from domain.errors import DomainError
from domain.jobs import Job as DomainJob
from domain.jobs import JobKind, JobStatus
from resolvers.connections import Connection, connection, page_size
from resolvers.context import Info
from resolvers.permissions import AdminOnly, require_admin
from resolvers.queries import validation_error
from resolvers.types import UserError

strawberry.enum(JobKind)
strawberry.enum(JobStatus)


@strawberry.type
class Job:
    id: strawberry.ID
    kind: JobKind
    enrollment_id: strawberry.ID
    status: JobStatus
    attempts: int
    next_run_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, job: DomainJob) -> Job:
        return cls(
            id=strawberry.ID(job.id),
            kind=job.kind,
            enrollment_id=strawberry.ID(job.enrollment_id),
            status=job.status,
            attempts=job.attempts,
            next_run_at=job.next_run_at,
            last_error=job.last_error,
            created_at=job.created_at,
            updated_at=job.updated_at,
        )


@strawberry.type
class JobStats:
    pending: int
    running: int
    succeeded: int
    dead: int
    oldest_pending_seconds: float | None


@strawberry.type
class JobPayload:
    job: Job | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class JobQueries:
    @strawberry.field(permission_classes=[AdminOnly], description="Oldest first.")
    async def jobs(
        self, info: Info, status: JobStatus | None = None, first: int | None = 50, after: str | None = None
    ) -> Connection[Job]:
        size = page_size(first, info.context.max_page_size)
        try:
            page = await info.context.services.jobs.page(status, size, after)
        except DomainError as bad:
            raise validation_error(bad) from None
        return connection(page, Job.of)

    @strawberry.field(permission_classes=[AdminOnly])
    async def job_stats(self, info: Info) -> JobStats:
        services = info.context.services
        stats = await services.jobs.stats(services.clock.now())
        return JobStats(**dataclasses.asdict(stats))


@strawberry.type
class JobMutations:
    @strawberry.mutation(permission_classes=[AdminOnly], description="A DEAD job runs again.")
    async def retry_job(self, info: Info, id: strawberry.ID) -> JobPayload:
        try:
            job = await provisioning.retry_job(info.context.services.changes, require_admin(info), str(id))
        except DomainError as failure:
            return JobPayload(errors=[UserError.of(failure.error)])
        return JobPayload(job=Job.of(job))

    @strawberry.mutation(
        permission_classes=[AdminOnly], description="Every DEAD job of `kind` runs again; how many."
    )
    async def retry_dead_jobs(self, info: Info, kind: JobKind) -> int:
        return await provisioning.retry_dead_jobs(info.context.services.changes, require_admin(info), kind)
