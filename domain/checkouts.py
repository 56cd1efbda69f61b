"""Card checkouts: open one at the gateway for what is still due, and settle what the gateway says.

Every money effect goes through `apply_payment_event` (one conditional write per event id), so
a callback, a reconciliation run and a duplicate of either apply at most once between them.
The order in `open_checkout` makes a crash harmless: the RECONCILE_PAYMENT job is written
before the gateway is called, so a checkout that never got created (or never got recorded)
still expires at its TTL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from domain.actors import SYSTEM, Actor, Cause, SystemAction
from domain.changes import Changes, record_change
from domain.course import Course
from domain.enrollment import Action, Enrollment, EnrollmentStatus
from domain.errors import ErrorCode, UserError
from domain.events import EventType
from domain.gateway import CheckoutRequest, CheckoutState, GatewayCallback, GatewayUnavailable, PaymentGateway
from domain.jobs import Decision, Job, Verdict
from domain.money import Money
from domain.notifications import checkout_expired_alert
from domain.payment_events import PaymentEvent, PaymentEventType
from domain.payments import Outcome, PaymentOutcome, apply_payment_event
from domain.ports import Observer, PaymentLedger, TransitionExtras

GATEWAY_UNAVAILABLE = "gateway_unavailable"
CHECKOUT_EXPIRED = "checkout_expired"
# Between reconciliation runs: never more than this, whatever the backoff says.
MAX_RECONCILE_WAIT = timedelta(minutes=15)


@dataclass(frozen=True)
class CheckoutRecord:
    transaction_id: str  # the gateway's id (iK Pay's paylinkID): the document's _id
    enrollment_id: str
    reference: str
    amount: Money  # what this checkout charges: a SUCCESS pays exactly this
    gateway: str
    redirect_url: str
    created_at: datetime
    expires_at: datetime


class CheckoutStore(Protocol):
    async def record(self, checkout: CheckoutRecord) -> None:
        """Idempotent by transaction id."""

    async def get(self, transaction_id: str) -> CheckoutRecord | None: ...
    async def by_reference(self, reference: str) -> CheckoutRecord | None: ...


@dataclass(frozen=True)
class CheckoutDesk:
    """What opening and settling checkouts needs, besides the enrollment changes."""

    gateway: PaymentGateway
    checkouts: CheckoutStore
    payments: PaymentLedger
    observer: Observer
    ttl: timedelta = timedelta(seconds=1800)
    reconcile_after: timedelta = timedelta(seconds=120)


@dataclass(frozen=True)
class Opened:
    enrollment: Enrollment
    redirect_url: str | None
    error: UserError | None = None


def outstanding(enrollment: Enrollment) -> Money:
    return enrollment.amount_due.minus(enrollment.amount_paid.amount)


async def open_checkout(
    desk: CheckoutDesk, changes: Changes, enrollment: Enrollment, course: Course
) -> Opened:
    """For a PENDING_PAYMENT card enrollment just written (enroll, or retry)."""
    reference = enrollment.payment_reference
    assert reference is not None, "a card enrollment waiting for money has a payment reference"
    now = changes.clock.now()
    await changes.jobs.enqueue_reconcile(enrollment, reference, now + desk.reconcile_after)
    request = CheckoutRequest(reference, outstanding(enrollment), enrollment.user_id, course.id, course.title)
    try:
        checkout = await desk.gateway.create_checkout(request)
    except GatewayUnavailable:
        cause = Cause(Actor.gateway(desk.gateway.name), PaymentEventType.FAILED.value, GATEWAY_UNAVAILABLE)
        failed = await _fail(changes, enrollment.id, reference, GATEWAY_UNAVAILABLE, cause)
        error = UserError(
            ErrorCode.PAYMENT_GATEWAY_UNAVAILABLE,
            "the card payment service cannot be reached; nothing was charged, retry the payment later",
        )
        return Opened(failed or enrollment, None, error)
    record = CheckoutRecord(
        checkout.transaction_id,
        enrollment.id,
        reference,
        request.amount,
        desk.gateway.name,
        checkout.redirect_url,
        now,
        now + desk.ttl,
    )
    await desk.checkouts.record(record)
    shown = await changes.enrollments.set_gateway_transaction(
        enrollment.id, reference, checkout.transaction_id
    )
    return Opened(shown or enrollment, checkout.redirect_url)


async def _fail(
    changes: Changes, enrollment_id: str, reference: str, reason: str, cause: Cause
) -> Enrollment | None:
    """PENDING_PAYMENT -> PAYMENT_FAILED while `reference` is current; None if it moved on."""
    extras = TransitionExtras(failure_reason=reason, expected_reference=reference, cause=cause)
    failed = await changes.enrollments.apply_transition(
        enrollment_id, Action.FAIL_PAYMENT, extras, now=changes.clock.now()
    )
    if failed is not None:
        await record_change(changes, failed, EventType.STATUS_CHANGED, failed.previous_status)
    return failed


def event_id(gateway: str, transaction_id: str, state: CheckoutState) -> str:
    """The same id for a callback and a status lookup saying the same thing."""
    return f"{gateway}:{transaction_id}:{'SUCCESS' if state is CheckoutState.PAID else 'FAILURE'}"


def _event(
    checkout: CheckoutRecord, state: CheckoutState, event_id: str, cause: Cause | None
) -> PaymentEvent:
    paid = state is CheckoutState.PAID
    return PaymentEvent(
        actor=Actor.gateway(checkout.gateway) if cause is None else cause.actor,
        action=None if cause is None else cause.action,
        id=event_id,
        type=(PaymentEventType.SUCCEEDED if paid else PaymentEventType.FAILED).value,
        reference=checkout.reference,
        amount=checkout.amount.amount if paid else 0,
        currency=checkout.amount.currency,
    )


async def _apply(
    desk: CheckoutDesk,
    changes: Changes,
    checkout: CheckoutRecord,
    state: CheckoutState,
    event_id: str,
    cause: Cause | None = None,  # None: the gateway's callback said so
) -> PaymentOutcome:
    outcome = await apply_payment_event(desk.payments, changes, _event(checkout, state, event_id, cause))
    if outcome.outcome is Outcome.PROCESSED and state is CheckoutState.PAID:
        enrollment = await changes.enrollments.get(checkout.enrollment_id)
        if enrollment is not None and enrollment.status is EnrollmentStatus.APPROVED:
            seconds = (changes.clock.now() - checkout.created_at).total_seconds()
            desk.observer.payment_confirmed(checkout.gateway, max(0.0, seconds))
    return outcome


async def settle_callback(desk: CheckoutDesk, changes: Changes, callback: GatewayCallback) -> PaymentOutcome:
    """A verified callback: found by its transaction id, else by our reference."""
    checkout = await desk.checkouts.get(callback.transaction_id)
    if checkout is None and callback.reference is not None:
        checkout = await desk.checkouts.by_reference(callback.reference)
        if checkout is None:
            checkout = await _unrecorded(desk, callback)
    if checkout is None:
        return PaymentOutcome(Outcome.UNKNOWN_REFERENCE)
    return await _apply(desk, changes, checkout, callback.state, callback.event_id)


async def _unrecorded(desk: CheckoutDesk, callback: GatewayCallback) -> CheckoutRecord | None:
    # The gateway created the checkout but this process stopped before recording it: the
    # reference is ours, and the checkout charged what was outstanding when it was opened.
    assert callback.reference is not None
    enrollment = await desk.payments.by_reference(callback.reference)
    if enrollment is None:
        return None
    when = enrollment.updated_at
    return CheckoutRecord(
        callback.transaction_id,
        enrollment.id,
        callback.reference,
        outstanding(enrollment),
        desk.gateway.name,
        "",
        when,
        when + desk.ttl,
    )


async def reconcile(desk: CheckoutDesk, changes: Changes, job: Job) -> Decision:
    """One RECONCILE_PAYMENT run: settle a final status, expire at the TTL, else ask again later."""
    reference = job.reference
    if reference is None:
        return Decision(Verdict.DEAD, error="a reconcile job without a payment reference")
    enrollment = await changes.enrollments.get(job.enrollment_id)
    if (
        enrollment is None
        or enrollment.status is not EnrollmentStatus.PENDING_PAYMENT
        or enrollment.payment_reference != reference
    ):
        return Decision(Verdict.SUCCEEDED)  # decided already: a callback, a retry, a cancel
    now = changes.clock.now()
    checkout = await desk.checkouts.by_reference(reference)
    expires_at = checkout.expires_at if checkout is not None else job.created_at + desk.ttl
    error = None
    if checkout is not None:
        try:
            status = await desk.gateway.checkout_status(checkout.transaction_id)
        except GatewayUnavailable as unavailable:
            error = str(unavailable)
        else:
            if status.state is not CheckoutState.OPEN:
                state_id = event_id(checkout.gateway, checkout.transaction_id, status.state)
                looked_up = Cause(SYSTEM, SystemAction.PAYMENT_RECONCILED.value)
                outcome = await _apply(desk, changes, checkout, status.state, state_id, looked_up)
                if outcome.outcome is Outcome.RETRY_LATER:
                    return Decision(Verdict.RETRY, _wait(desk, job, expires_at, now), "enrollment busy")
                return Decision(Verdict.SUCCEEDED)
    if now >= expires_at:
        cause = Cause(SYSTEM, SystemAction.CHECKOUT_EXPIRED.value, CHECKOUT_EXPIRED)
        expired = await _fail(changes, job.enrollment_id, reference, CHECKOUT_EXPIRED, cause)
        if expired is not None:
            await changes.jobs.enqueue_notice(expired, checkout_expired_alert(expired, reference))
        return Decision(Verdict.SUCCEEDED)
    return Decision(Verdict.RETRY, _wait(desk, job, expires_at, now), error)


def _wait(desk: CheckoutDesk, job: Job, expires_at: datetime, now: datetime) -> float:
    """Doubling from `reconcile_after`, capped, and never past the TTL (the last run expires it)."""
    step: timedelta = desk.reconcile_after * 2 ** min(max(job.attempts - 1, 0), 32)
    until_expiry = max(expires_at - now, timedelta(0))
    wait: timedelta = min(step, MAX_RECONCILE_WAIT, until_expiry)
    return wait.total_seconds()
