"""Payment gateway events and what recording one did, as values shared by the use case and the store."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.actors import Actor, ActorKind, Cause
from domain.enrollment import Enrollment

WEBHOOK = Actor(ActorKind.GATEWAY, "webhook")  # the generic signed webhook (/webhooks/payment)


class PaymentEventType(StrEnum):
    SUCCEEDED = "payment.succeeded"
    FAILED = "payment.failed"
    REFUNDED = "payment.refunded"  # `amount` went back to the payer
    DISPUTED = "payment.disputed"  # a chargeback was opened: access goes at once


# The reason a gateway's event gives the change it makes (the contract's "reason refunded").
_REASONS = {PaymentEventType.REFUNDED.value: "refunded", PaymentEventType.DISPUTED.value: "disputed"}


@dataclass(frozen=True)
class PaymentEvent:
    """One validated webhook event. `type` stays a string: unknown types are recorded, not refused."""

    id: str
    type: str
    reference: str
    amount: int
    currency: str
    note: str | None = None  # a manual payment's who and why, kept in the delivery log
    actor: Actor = WEBHOOK  # the generic webhook's; the others say who they are
    action: str | None = None  # the history's name for it; None: the event type

    @property
    def cause(self) -> Cause:
        return Cause(self.actor, self.action or self.type, _REASONS.get(self.type))


class EventEffect(StrEnum):
    """What the database decided the event does, from the enrollment as it was at that instant."""

    APPROVED = "approved"  # paid in full: PENDING_PAYMENT/PAYMENT_FAILED -> APPROVED
    RECORDED = "recorded"  # money added, status unchanged
    FAILED = "failed"  # PENDING_PAYMENT -> PAYMENT_FAILED
    REVOKED = "revoked"  # APPROVED -> REVOKED: refunded below the amount due, or disputed
    REFUNDED = "refunded"  # money taken off, status unchanged
    IGNORED = "ignored"  # event id and delivery recorded, nothing else


class IgnoredReason(StrEnum):
    CURRENCY_MISMATCH = "currency_mismatch"
    ZERO_AMOUNT = "zero_amount"
    NOT_PENDING_PAYMENT = "not_pending_payment"
    UNKNOWN_TYPE = "unknown_type"
    NOT_APPROVED = "not_approved"  # a dispute about an enrollment that gives no access


@dataclass(frozen=True)
class EventApplied:
    """The one conditional write matched: the event id is now recorded with its effect."""

    enrollment: Enrollment
    effect: EventEffect
    reason: IgnoredReason | None = None


class Miss(StrEnum):
    """Why the write that records a new event id matched nothing."""

    DUPLICATE = "duplicate"  # the id was recorded before; this delivery was logged only
    UNKNOWN_REFERENCE = "unknown_reference"
    HOLD_OVERDUE = "hold_overdue"  # a coupon hold has run out: lapse it first, then try again
    EVENT_LIMIT = "event_limit"  # the enrollment holds as many distinct event ids as it may
    CONTENDED = "contended"  # the enrollment changed between the checks: try again


@dataclass(frozen=True)
class EventMissed:
    miss: Miss
    enrollment_id: str | None


EventWrite = EventApplied | EventMissed
