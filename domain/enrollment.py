"""The enrollment state machine, as one table the store builds its filters from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.actors import Actor, ActorKind
from domain.money import Money


class EnrollmentStatus(StrEnum):
    PENDING_PAYMENT = "PENDING_PAYMENT"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    CANCELLED = "CANCELLED"
    REVOKED = "REVOKED"  # access taken away after approval (refund, chargeback, an admin)


class PaymentMethod(StrEnum):
    CARD = "CARD"
    EFT = "EFT"


class Action(StrEnum):
    APPROVE = "APPROVE"
    REJECT = "REJECT"
    CANCEL = "CANCEL"
    RETRY_PAYMENT = "RETRY_PAYMENT"
    FAIL_PAYMENT = "FAIL_PAYMENT"
    SETTLE_PAYMENT = "SETTLE_PAYMENT"
    REVOKE = "REVOKE"


class AccessStatus(StrEnum):
    NOT_STARTED = "NOT_STARTED"
    PENDING = "PENDING"
    PROVISIONED = "PROVISIONED"
    FAILED = "FAILED"
    REVOKED = "REVOKED"


S = EnrollmentStatus

# The partial unique index and the card rules both derive from this set.
ACTIVE_STATUSES: frozenset[EnrollmentStatus] = frozenset(
    {S.PENDING_PAYMENT, S.AWAITING_APPROVAL, S.APPROVED, S.PAYMENT_FAILED}
)

# The statuses an admin (or a payment) decides; `decidedBy` names who.
DECISIONS: frozenset[EnrollmentStatus] = frozenset({S.APPROVED, S.REJECTED, S.REVOKED})

# Only while waiting for money can a coupon hold lapse (the contract, coupons 3).
HOLD_LAPSES_IN: frozenset[EnrollmentStatus] = frozenset({S.PENDING_PAYMENT, S.PAYMENT_FAILED})


@dataclass(frozen=True)
class Transition:
    sources: frozenset[EnrollmentStatus]
    target: EnrollmentStatus


TRANSITIONS: dict[Action, Transition] = {
    Action.APPROVE: Transition(frozenset({S.AWAITING_APPROVAL}), S.APPROVED),
    Action.REJECT: Transition(frozenset({S.AWAITING_APPROVAL}), S.REJECTED),
    Action.CANCEL: Transition(
        frozenset({S.PENDING_PAYMENT, S.AWAITING_APPROVAL, S.PAYMENT_FAILED}), S.CANCELLED
    ),
    Action.RETRY_PAYMENT: Transition(frozenset({S.PAYMENT_FAILED}), S.PENDING_PAYMENT),
    Action.FAIL_PAYMENT: Transition(frozenset({S.PENDING_PAYMENT}), S.PAYMENT_FAILED),
    Action.SETTLE_PAYMENT: Transition(frozenset({S.PENDING_PAYMENT, S.PAYMENT_FAILED}), S.APPROVED),
    Action.REVOKE: Transition(frozenset({S.APPROVED}), S.REVOKED),
}


def next_status(status: EnrollmentStatus, action: Action) -> EnrollmentStatus | None:
    """The status after `action`, or None when the table does not allow it."""
    transition = TRANSITIONS[action]
    return transition.target if status in transition.sources else None


def initial_status(method: PaymentMethod, amount_due: Money) -> EnrollmentStatus:
    if amount_due.amount == 0:
        return S.APPROVED
    return S.PENDING_PAYMENT if method is PaymentMethod.CARD else S.AWAITING_APPROVAL


class Effect(StrEnum):
    """Follow-up work recorded in the same write as the change (an outbox), done after it."""

    COUPON = "coupon"
    JOBS = "jobs"
    AUDIT = "audit"  # the latest history entries, still to be copied to the audit log
    REVOKE = "revoke"  # the REVOKE_ACCESS job, still to be enqueued


class HoldState(StrEnum):
    HELD = "HELD"
    REDEEMED = "REDEEMED"
    RELEASED = "RELEASED"
    LAPSED = "LAPSED"


@dataclass(frozen=True)
class CouponUse:
    code: str
    state: HoldState
    discount: int
    expires_at: datetime | None  # None: the hold never lapses (EFT, or already decided)


@dataclass(frozen=True)
class Access:
    status: AccessStatus
    attempts: int
    last_error: str | None
    updated_at: datetime | None
    launch_url: str | None = None  # where the LMS said the student starts, once PROVISIONED
    account_id: str | None = None  # the student's account on the LMS


@dataclass(frozen=True)
class WebhookDelivery:
    event_id: str
    type: str
    outcome: str
    amount: int | None
    received_at: datetime


@dataclass(frozen=True)
class ChangeRecord:
    """One entry of an enrollment's history; its audit entry's id is `<enrollment id>:<version>`."""

    at: datetime
    version: int
    status: EnrollmentStatus
    previous_status: EnrollmentStatus | None
    actor: Actor
    action: str
    reason: str | None = None


@dataclass(frozen=True)
class Enrollment:
    id: str
    user_id: str
    course_id: str
    status: EnrollmentStatus
    payment_method: PaymentMethod
    full_price: Money
    amount_due: Money
    amount_paid: Money
    coupon: CouponUse | None
    payment_reference: str | None
    rejection_reason: str | None
    approved_by: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    access: Access
    email: str | None = None
    deliveries: tuple[WebhookDelivery, ...] = ()
    pending: frozenset[Effect] = frozenset()
    previous_status: EnrollmentStatus | None = None
    gateway_transaction_id: str | None = None  # the card gateway's id of the latest checkout
    failure_reason: str | None = None  # why the payment failed (gateway_unavailable, ...)
    history: tuple[ChangeRecord, ...] = ()  # every change, oldest first, each with its actor
    audited_version: int = 0  # every change up to this version is in the audit log already

    def unaudited(self) -> tuple[ChangeRecord, ...]:
        """The changes whose audit entries (and notices) may still be missing: only these are
        copied, so a long history is not inserted again, refused entry by entry, at every change."""
        return tuple(change for change in self.history if change.version > self.audited_version)

    def _last_became(self, status: EnrollmentStatus) -> ChangeRecord | None:
        for change in reversed(self.history):
            if change.status is status and change.previous_status is not status:
                return change
        return None

    @property
    def approved_at(self) -> datetime | None:
        change = self._last_became(S.APPROVED)
        return None if change is None else change.at

    @property
    def rejected_at(self) -> datetime | None:
        change = self._last_became(S.REJECTED)
        return None if change is None else change.at

    @property
    def revoked_at(self) -> datetime | None:
        change = self._last_became(S.REVOKED)
        return None if change is None else change.at

    @property
    def decided_by(self) -> str | None:
        """The admin who approved, rejected or revoked (None when no admin made the last decision)."""
        for change in reversed(self.history):
            if change.status in DECISIONS and change.previous_status is not change.status:
                return change.actor.id if change.actor.kind is ActorKind.ADMIN else None
        return None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES
