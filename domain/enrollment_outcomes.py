"""What each enrollment change means to the people watching the service: an outcome counted by
payment method, and for an EFT enrollment an admin decided, how long it waited.

Counted where every change is published (`record_change` publishes each exactly once after its
write), so no use case has to remember to count.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.enrollment import EnrollmentStatus, PaymentMethod
from domain.events import EnrollmentChange, EventType
from domain.ports import EventPublisher, Observer

S = EnrollmentStatus
_OUTCOMES: dict[EnrollmentStatus, str] = {
    S.APPROVED: "approved",
    S.REJECTED: "rejected",
    S.PAYMENT_FAILED: "payment_failed",
    S.CANCELLED: "cancelled",
}


def outcome_of(change: EnrollmentChange) -> str | None:
    """created, approved, rejected, payment_failed, cancelled or revoked (access taken back from an
    approved enrollment); None for a change that is none of them (a payment recorded, a hold lapsed)."""
    if change.type is EventType.CREATED:
        return "created"
    if change.type is not EventType.STATUS_CHANGED or change.previous_status is change.enrollment.status:
        return None
    if change.previous_status is S.APPROVED:
        return "revoked"
    return _OUTCOMES.get(change.enrollment.status)


def approval_wait(change: EnrollmentChange) -> float | None:
    """Seconds from an EFT enrollment's creation to an admin's decision on it."""
    enrollment = change.enrollment
    decided = enrollment.status in (S.APPROVED, S.REJECTED)
    if enrollment.payment_method is not PaymentMethod.EFT or not decided:
        return None
    if change.type is not EventType.STATUS_CHANGED or change.previous_status is not S.AWAITING_APPROVAL:
        return None
    return max(0.0, (change.at - enrollment.created_at).total_seconds())


@dataclass(frozen=True)
class ObservedPublisher:
    """Publishes through `inner` after telling `observer` what the change means."""

    inner: EventPublisher
    observer: Observer

    async def publish(self, change: EnrollmentChange) -> None:
        outcome = outcome_of(change)
        if outcome is not None:
            self.observer.enrollment_outcome(change.enrollment.payment_method.value.lower(), outcome)
        wait = approval_wait(change)
        if wait is not None:
            self.observer.approval_waited(wait)
        await self.inner.publish(change)

    async def course_changed(self, course_id: str) -> None:
        await self.inner.course_changed(course_id)
