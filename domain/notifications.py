"""What the student is told, and what the admins are alerted to: one notice per event.

Pure: each function turns an event into a `Notice` (a template, its data and a key) or None.
A notice becomes one durable job whose id is derived from the enrollment, the template and the
key, so an event handled twice (a retried request, a sweep after a crash) is enqueued once.
The school's name, its bank details, the course title and the links are added when the job
runs (`jobs.notify`); the data here are the event's own facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from domain.enrollment import Enrollment, EnrollmentStatus, PaymentMethod
from domain.events import EnrollmentChange, EventType
from domain.jobs import Job, JobKind, JobStatus
from domain.money import format_money
from domain.payment_events import PaymentEventType

S = EnrollmentStatus


class Template(StrEnum):
    """The student's notifications (the contract's list); `APPROVED` goes out with approval's jobs."""

    ENROLLMENT_RECEIVED = "enrollment_received"
    PAYMENT_RECEIVED = "payment_received"
    APPROVED = "approved"
    REJECTED = "rejected"
    PAYMENT_FAILED = "payment_failed"
    ACCESS_READY = "access_ready"
    ACCESS_FAILED = "access_failed"
    REVOKED = "revoked"


class Alert(StrEnum):
    """The admins' alerts (`NOTIFY_ADMINS`)."""

    CURRENCY_MISMATCH = "currency_mismatch"
    PAYMENT_ON_CLOSED_ENROLLMENT = "payment_on_closed_enrollment"
    ACCESS_DEAD = "access_dead"
    CHECKOUT_EXPIRED = "checkout_expired"


Data = Mapping[str, str | int | None]

# A payment that lands here has no enrollment left to pay for.
CLOSED_STATUSES = frozenset({S.CANCELLED, S.REJECTED})


@dataclass(frozen=True)
class Notice:
    kind: JobKind  # NOTIFY_STUDENT or NOTIFY_ADMINS
    template: str
    key: str  # what makes this notice one of its kind for the enrollment (a version, an event id)
    data: Data


def _student(template: Template, enrollment: Enrollment, **data: str | int | None) -> Notice:
    return Notice(JobKind.NOTIFY_STUDENT, template.value, str(enrollment.version), data)


def _amounts(enrollment: Enrollment) -> dict[str, str | int | None]:
    return {
        "amountDue": format_money(enrollment.amount_due),
        "amountPaid": format_money(enrollment.amount_paid),
        "paymentReference": enrollment.payment_reference,
    }


def approval_data(enrollment: Enrollment) -> dict[str, str | int | None]:
    """The `approved` notice's data (written with approval's jobs)."""
    return _amounts(enrollment)


def change_notice(change: EnrollmentChange) -> Notice | None:
    """The student's notice for an enrollment change, if it is one the student must hear of."""
    enrollment, previous = change.enrollment, change.previous_status
    if change.type is EventType.CREATED:
        if enrollment.status is S.AWAITING_APPROVAL and enrollment.payment_method is PaymentMethod.EFT:
            return _student(Template.ENROLLMENT_RECEIVED, enrollment, **_amounts(enrollment))
        return None
    if change.type is EventType.PAYMENT_RECORDED:
        if enrollment.history and enrollment.history[-1].action == PaymentEventType.REFUNDED:
            return None  # money went back: no "payment received" for it
        return _student(Template.PAYMENT_RECEIVED, enrollment, **_amounts(enrollment))
    if previous is enrollment.status:  # an access or discount change, not a transition
        return None
    if enrollment.status is S.REJECTED:
        return _student(Template.REJECTED, enrollment, reason=enrollment.rejection_reason)
    if enrollment.status is S.PAYMENT_FAILED:
        return _student(
            Template.PAYMENT_FAILED, enrollment, reason=enrollment.failure_reason, **_amounts(enrollment)
        )
    if enrollment.status is S.REVOKED:
        # The reason the revoking change recorded: an admin's words, or `refunded` / `disputed`.
        last = enrollment.history[-1] if enrollment.history else None
        return _student(Template.REVOKED, enrollment, reason=None if last is None else last.reason)
    return None


def access_notices(job: Job) -> list[Notice]:
    """A PROVISION_ACCESS job that finished: the student hears either way; admins hear of a death.
    Keyed by the attempt, so access that fails again after a retry is told again."""
    if job.kind is not JobKind.PROVISION_ACCESS:
        return []
    key = str(job.attempts)
    if job.status is JobStatus.SUCCEEDED:
        launch = None if job.result is None else job.result.get("launchUrl")
        return [Notice(JobKind.NOTIFY_STUDENT, Template.ACCESS_READY.value, key, {"launchUrl": launch})]
    if job.status is JobStatus.DEAD:
        data = {"jobId": job.id, "error": job.last_error, "attempts": job.attempts}
        return [
            Notice(JobKind.NOTIFY_STUDENT, Template.ACCESS_FAILED.value, key, {}),
            Notice(JobKind.NOTIFY_ADMINS, Alert.ACCESS_DEAD.value, key, data),
        ]
    return []


def checkout_expired_alert(enrollment: Enrollment, reference: str) -> Notice:
    """A card checkout ran out unpaid; keyed by its payment reference."""
    data = {"paymentReference": reference, "amountDue": format_money(enrollment.amount_due)}
    return Notice(JobKind.NOTIFY_ADMINS, Alert.CHECKOUT_EXPIRED.value, reference, data)


def money_alert(enrollment: Enrollment, event_id: str, currency: str | None, amount: int | None) -> Notice:
    """Money arrived that does not apply; keyed by the event id: a redelivery alerts nobody again."""
    alert = (
        Alert.CURRENCY_MISMATCH
        if currency is not None and currency != enrollment.amount_due.currency
        else Alert.PAYMENT_ON_CLOSED_ENROLLMENT
    )
    data = {
        "eventId": event_id,
        "amount": amount,
        "currency": currency,
        "enrollmentStatus": enrollment.status.value,
        "enrollmentCurrency": enrollment.amount_due.currency,
        "paymentReference": enrollment.payment_reference,
    }
    return Notice(JobKind.NOTIFY_ADMINS, alert.value, event_id, data)
