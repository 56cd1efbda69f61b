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

from domain.enrollment import ChangeRecord, Enrollment, EnrollmentStatus, PaymentMethod
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


def _student(template: Template, key: str, **data: str | int | None) -> Notice:
    return Notice(JobKind.NOTIFY_STUDENT, template.value, key, data)


def _amounts(enrollment: Enrollment) -> dict[str, str | int | None]:
    return {
        "amountDue": format_money(enrollment.amount_due),
        "amountPaid": format_money(enrollment.amount_paid),
        "paymentReference": enrollment.payment_reference,
    }


def approval_data(enrollment: Enrollment) -> dict[str, str | int | None]:
    """The `approved` notice's data (written with approval's jobs)."""
    return _amounts(enrollment)


# What the history calls money coming in (the gateway's, an admin's, the reconciliation's).
_MONEY_IN = frozenset({PaymentEventType.SUCCEEDED.value, "recordPayment", "payment_reconciled"})


def change_notice(change: ChangeRecord, enrollment: Enrollment) -> Notice | None:
    """The student's notice for one change in the enrollment's history, if it is one the student
    must hear of, keyed by the change's version.

    Read from the history entry, not from the request that made the change: the settle that copies
    the entry to the audit log (or the sweep, after a crash) enqueues the notice too, so a change
    is never left untold. The data are the enrollment's as settled (the first enqueue wins).
    """
    key = str(change.version)
    if change.previous_status is None:  # the enrollment's creation
        if change.status is S.AWAITING_APPROVAL and enrollment.payment_method is PaymentMethod.EFT:
            return _student(Template.ENROLLMENT_RECEIVED, key, **_amounts(enrollment))
        return None
    if change.status is change.previous_status:
        # Money in (not a refund), or an access or discount change, which tell nothing here.
        if change.action in _MONEY_IN:
            return _student(Template.PAYMENT_RECEIVED, key, **_amounts(enrollment))
        return None
    if change.status is S.REJECTED:
        return _student(Template.REJECTED, key, reason=change.reason or enrollment.rejection_reason)
    if change.status is S.PAYMENT_FAILED:
        return _student(
            Template.PAYMENT_FAILED, key, reason=enrollment.failure_reason, **_amounts(enrollment)
        )
    if change.status is S.REVOKED:
        # An admin's words, or `refunded` / `disputed`.
        return _student(Template.REVOKED, key, reason=change.reason)
    return None


def history_notices(enrollment: Enrollment) -> list[Notice]:
    """Every notice the enrollment's unaudited changes call for (enqueued once each, by their ids;
    the changes already audited had theirs enqueued by the same settle that audited them)."""
    return [n for change in enrollment.unaudited() if (n := change_notice(change, enrollment)) is not None]


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
