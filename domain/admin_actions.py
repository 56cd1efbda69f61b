"""What admins decide: approve, reject, either in bulk, revoke, record a payment. Each is one
conditional write per enrollment."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from domain.actors import Actor, Cause
from domain.changes import Changes, not_found, transition
from domain.enrollment import Action, Enrollment
from domain.errors import DomainError, ErrorCode, UserError
from domain.payment_events import PaymentEvent, PaymentEventType
from domain.payments import Outcome, apply_payment_event
from domain.ports import PaymentLedger, TransitionExtras
from domain.services import Policy
from domain.viewer import Viewer

MAX_REASON_LENGTH = 1000
MAX_MANUAL_REFERENCE = 200
MAX_MANUAL_AMOUNT = 10**12  # as the webhook's bound


async def approve(
    changes: Changes, admin: Viewer, enrollment_id: str, action: str = "approveEnrollment"
) -> Enrollment:
    extras = TransitionExtras(approved_by=admin.user_id)
    return await transition(changes, enrollment_id, Action.APPROVE, Cause(Actor.of(admin), action), extras)


def _required_reason(reason: str) -> str:
    clean = reason.strip()
    if not clean or len(clean) > MAX_REASON_LENGTH:
        raise DomainError.of(
            ErrorCode.VALIDATION_FAILED,
            f"a reason of 1-{MAX_REASON_LENGTH} characters is required",
            "reason",
        )
    return clean


async def reject(
    changes: Changes, admin: Viewer, enrollment_id: str, reason: str, action: str = "rejectEnrollment"
) -> Enrollment:
    clean = _required_reason(reason)
    extras = TransitionExtras(rejection_reason=clean)
    cause = Cause(Actor.of(admin), action, clean)
    return await transition(changes, enrollment_id, Action.REJECT, cause, extras)


async def revoke(changes: Changes, admin: Viewer, enrollment_id: str, reason: str) -> Enrollment:
    """Take access away from an approved enrollment; the REVOKE_ACCESS job tells the LMS."""
    cause = Cause(Actor.of(admin), "revokeEnrollment", _required_reason(reason))
    return await transition(changes, enrollment_id, Action.REVOKE, cause, TransitionExtras())


@dataclass(frozen=True)
class BulkOutcome:
    done: list[Enrollment]
    errors: list[UserError]


async def _each(
    policy: Policy, enrollment_ids: Sequence[str], act: Callable[[str], Awaitable[Enrollment]]
) -> BulkOutcome:
    """`act` on every id (repeats once), in order; one id's refusal is its error, not the batch's."""
    limit = policy.max_bulk
    if len(enrollment_ids) > limit:
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, f"at most {limit} ids at once", "enrollmentIds")
    done: list[Enrollment] = []
    errors: list[UserError] = []
    for enrollment_id in dict.fromkeys(enrollment_ids):
        try:
            done.append(await act(enrollment_id))
        except DomainError as failure:
            error = failure.error
            errors.append(UserError(error.code, f"{enrollment_id}: {error.message}", enrollment_id))
    return BulkOutcome(done, errors)


async def bulk_approve(
    changes: Changes, policy: Policy, admin: Viewer, enrollment_ids: Sequence[str]
) -> BulkOutcome:
    return await _each(
        policy, enrollment_ids, lambda one: approve(changes, admin, one, "bulkApproveEnrollments")
    )


async def bulk_reject(
    changes: Changes, policy: Policy, admin: Viewer, enrollment_ids: Sequence[str], reason: str
) -> BulkOutcome:
    """One reason for all; a missing or overlong one refuses the whole batch before any write."""
    clean = _required_reason(reason)
    return await _each(
        policy, enrollment_ids, lambda one: reject(changes, admin, one, clean, "bulkRejectEnrollments")
    )


async def record_payment(
    payments: PaymentLedger,
    changes: Changes,
    admin: Viewer,
    enrollment_id: str,
    amount: int,
    reference: str,
    note: str | None,
) -> Enrollment:
    """Money that reached the school outside the gateway, as one more payment event: the event id
    `manual:<reference>` makes recording it twice (a resent mutation) change nothing."""
    clean = reference.strip()
    if not clean or len(clean) > MAX_MANUAL_REFERENCE:
        raise DomainError.of(
            ErrorCode.VALIDATION_FAILED, f"reference must be 1-{MAX_MANUAL_REFERENCE} characters", "reference"
        )
    if not 0 < amount <= MAX_MANUAL_AMOUNT:
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, "amount must be positive (minor units)", "amount")
    text = (note or "").strip()
    if len(text) > MAX_REASON_LENGTH:
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, f"note must be at most {MAX_REASON_LENGTH}", "note")
    enrollment = await changes.enrollments.get(enrollment_id)
    if enrollment is None:
        raise not_found()
    if enrollment.payment_reference is None:
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, "this enrollment takes no payment", "enrollmentId")
    event = PaymentEvent(
        id=f"manual:{clean}",
        type=PaymentEventType.SUCCEEDED.value,
        reference=enrollment.payment_reference,
        amount=amount,
        currency=enrollment.amount_due.currency,
        note=f"{admin.user_id}: {text}" if text else admin.user_id,
        actor=Actor.of(admin),
        action="recordPayment",
    )
    outcome = await apply_payment_event(payments, changes, event)
    if outcome.outcome in (Outcome.EVENT_LIMIT, Outcome.RETRY_LATER):
        raise DomainError.of(
            ErrorCode.INVALID_TRANSITION, "the enrollment is busy; try again", "enrollmentId"
        )
    return await changes.enrollments.get(enrollment_id) or enrollment
