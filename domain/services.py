"""The process's collaborators, bundled once at the composition root; each use case takes only its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from domain.changes import Changes
from domain.coupon import ReservationOutcome
from domain.ports import (
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


@dataclass(frozen=True)
class Policy:
    coupon_hold: timedelta = timedelta(seconds=900)
    checkout_url: str = "http://127.0.0.1:8000/sandbox/checkout"
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
    observer: Observer = field(default_factory=Unobserved)

    @property
    def changes(self) -> Changes:
        return Changes(self.enrollments, self.coupons, self.jobs, self.publisher, self.clock)
