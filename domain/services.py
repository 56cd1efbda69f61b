"""The process's collaborators, bundled once at the composition root; each use case takes only its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from domain.changes import Changes
from domain.checkouts import CheckoutDesk
from domain.coupon import ReservationOutcome
from domain.dashboard import DashboardReader
from domain.ports import (
    AuditLog,
    Clock,
    CouponStore,
    CourseStore,
    EnrollmentStore,
    EventPublisher,
    JobQueue,
    Observer,
    PaymentLedger,
)


class Unobserved:
    """The observer when nobody counts (scripts, tests of the domain alone)."""

    def coupon_reservation(self, outcome: ReservationOutcome) -> None:
        pass

    def gateway_request(self, gateway: str, operation: str, outcome: str, seconds: float) -> None:
        pass

    def payment_confirmed(self, gateway: str, seconds: float) -> None:
        pass

    def enrollment_outcome(self, method: str, outcome: str) -> None:
        pass

    def approval_waited(self, seconds: float) -> None:
        pass


@dataclass(frozen=True)
class Policy:
    coupon_hold: timedelta = timedelta(seconds=900)
    max_bulk: int = 100


@dataclass(frozen=True)
class Services:
    courses: CourseStore
    coupons: CouponStore
    enrollments: EnrollmentStore
    publisher: EventPublisher
    jobs: JobQueue
    clock: Clock
    policy: Policy
    payments: PaymentLedger
    desk: CheckoutDesk
    audit: AuditLog
    dashboard: DashboardReader
    observer: Observer = field(default_factory=Unobserved)

    @cached_property
    def changes(self) -> Changes:
        # One per process: its settling groups the follow-up writes of concurrent changes.
        return Changes(self.enrollments, self.coupons, self.jobs, self.publisher, self.clock, self.audit)
