"""A payment gateway reports an event: apply its effect exactly once.

The store records the event id and applies the effect in one conditional write
(`PaymentLedger.record_event`); this use case only reacts to what that write reports:
an applied change goes through `record_change` once, a duplicate or an ignored event
publishes nothing. A coupon hold that ran out is lapsed first (the student loses the
discount), so a payment never approves at a discount that is no longer held.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from domain.changes import HOLD_LAPSED, Changes, record_change
from domain.events import EventType
from domain.notifications import CLOSED_STATUSES, money_alert
from domain.payment_events import EventApplied, EventEffect, EventMissed, IgnoredReason, Miss, PaymentEvent
from domain.ports import PaymentLedger

log = logging.getLogger(__name__)

# Each retry follows a change another writer made to the same enrollment; two are plenty.
MAX_ATTEMPTS = 3


class Outcome(StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    UNKNOWN_REFERENCE = "unknown_reference"
    EVENT_LIMIT = "event_limit"
    RETRY_LATER = "retry_later"


@dataclass(frozen=True)
class PaymentOutcome:
    outcome: Outcome
    enrollment_id: str | None = None
    reason: str | None = None


_CHANGE_EVENT: dict[EventEffect, EventType] = {
    EventEffect.APPROVED: EventType.STATUS_CHANGED,
    EventEffect.FAILED: EventType.STATUS_CHANGED,
    EventEffect.RECORDED: EventType.PAYMENT_RECORDED,
    EventEffect.REVOKED: EventType.STATUS_CHANGED,
    EventEffect.REFUNDED: EventType.PAYMENT_RECORDED,
}

_MISSES: dict[Miss, Outcome] = {
    Miss.DUPLICATE: Outcome.DUPLICATE,
    Miss.UNKNOWN_REFERENCE: Outcome.UNKNOWN_REFERENCE,
    Miss.EVENT_LIMIT: Outcome.EVENT_LIMIT,
}


async def apply_payment_event(
    payments: PaymentLedger, changes: Changes, event: PaymentEvent
) -> PaymentOutcome:
    for _ in range(MAX_ATTEMPTS):
        written = await payments.record_event(event, changes.clock.now())
        if isinstance(written, EventApplied):
            await _alert_if_misapplied(changes, written, event)
            return await _applied(changes, written)
        if written.miss in _MISSES:
            return _missed(written, event)
        if written.miss is Miss.HOLD_OVERDUE and written.enrollment_id is not None:
            await _lapse(changes, written.enrollment_id)
    log.warning("payment event kept missing its enrollment", extra={"event_id": event.id})
    return PaymentOutcome(Outcome.RETRY_LATER)


async def _applied(changes: Changes, written: EventApplied) -> PaymentOutcome:
    enrollment = written.enrollment
    change = _CHANGE_EVENT.get(written.effect)
    if change is None:
        reason = None if written.reason is None else written.reason.value
        return PaymentOutcome(Outcome.IGNORED, enrollment.id, reason)
    await record_change(changes, enrollment, change, enrollment.previous_status)
    return PaymentOutcome(Outcome.PROCESSED, enrollment.id)


async def _alert_if_misapplied(changes: Changes, written: EventApplied, event: PaymentEvent) -> None:
    """Money that arrived and does not apply: the admins hear of it once per event (a duplicate
    delivery never gets here, and the alert's id is derived from the event id)."""
    enrollment = written.enrollment
    mismatch = written.reason is IgnoredReason.CURRENCY_MISMATCH
    closed = written.effect is EventEffect.RECORDED and enrollment.status in CLOSED_STATUSES
    if mismatch or closed:
        alert = money_alert(enrollment, event.id, event.currency, event.amount)
        await changes.jobs.enqueue_notice(enrollment, alert)


def _missed(written: EventMissed, event: PaymentEvent) -> PaymentOutcome:
    if written.miss is Miss.EVENT_LIMIT:
        log.error(
            "enrollment refuses more webhook events",
            extra={"enrollment_id": written.enrollment_id, "event_id": event.id},
        )
    return PaymentOutcome(_MISSES[written.miss], written.enrollment_id)


async def _lapse(changes: Changes, enrollment_id: str) -> None:
    lapsed = await changes.enrollments.lapse_hold(enrollment_id, changes.clock.now(), HOLD_LAPSED)
    # None: another process lapsed it first and published that change itself.
    if lapsed is not None:
        await record_change(changes, lapsed, EventType.STATUS_CHANGED, lapsed.status)
