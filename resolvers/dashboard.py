"""The admins' dashboard as GraphQL: the numbers the console draws as charts."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import strawberry

from domain import dashboard as use_case
from domain.enrollment import EnrollmentStatus, PaymentMethod
from domain.errors import DomainError
from resolvers.context import Info
from resolvers.jobs import JobStats
from resolvers.permissions import AdminOnly
from resolvers.queries import validation_error


@strawberry.type
class DayCount:
    day: str = strawberry.field(description="YYYY-MM-DD, UTC.")
    status: EnrollmentStatus
    count: int


@strawberry.type
class Conversion:
    payment_method: PaymentMethod
    enrolled: int
    approved: int
    rate: float = strawberry.field(description="approved / enrolled; 0 when none enrolled.")


@strawberry.type
class Durations:
    samples: int
    p50_seconds: float | None
    p90_seconds: float | None

    @classmethod
    def of(cls, d: use_case.Durations) -> Durations:
        return cls(samples=d.samples, p50_seconds=d.p50_seconds, p90_seconds=d.p90_seconds)


@strawberry.type
class Dashboard:
    days: int
    since: datetime
    per_day: list[DayCount] = strawberry.field(description="Enrollments created per day, by current status.")
    conversion: list[Conversion] = strawberry.field(description="Enrolled in the window -> approved.")
    payment_confirmation: Durations = strawberry.field(description="Enrolling to the payment's confirmation.")
    approval_wait: Durations = strawberry.field(description="Awaiting approval to an admin's decision.")
    pending_approvals: int
    jobs: JobStats


@strawberry.type
class DashboardQueries:
    @strawberry.field(permission_classes=[AdminOnly], description="The last `days` days (1-366).")
    async def dashboard(self, info: Info, days: int = 30) -> Dashboard:
        services = info.context.services
        try:
            found = await use_case.dashboard(services.dashboard, services.jobs, services.clock, days)
        except DomainError as bad:
            raise validation_error(bad) from None
        return Dashboard(
            days=found.days,
            since=found.since,
            per_day=[DayCount(day=d.day, status=d.status, count=d.count) for d in found.per_day],
            conversion=[
                Conversion(payment_method=c.method, enrolled=c.enrolled, approved=c.approved, rate=c.rate)
                for c in found.conversion
            ],
            payment_confirmation=Durations.of(found.payment_confirmation),
            approval_wait=Durations.of(found.approval_wait),
            pending_approvals=found.pending_approvals,
            jobs=JobStats(**dataclasses.asdict(found.jobs)),
        )
