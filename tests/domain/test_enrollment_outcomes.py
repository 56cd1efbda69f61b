"""Which outcome each change counts as, and which changes measure an admin's approval wait."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from domain.enrollment import EnrollmentStatus, PaymentMethod
from domain.enrollment_outcomes import approval_wait, outcome_of
from domain.events import EnrollmentChange, EventType
from tests.domain.test_card_rules import T0, enrollment

S = EnrollmentStatus


def change(
    kind: EventType, status: S, previous: S | None, method: PaymentMethod = PaymentMethod.EFT
) -> EnrollmentChange:
    changed = dataclasses.replace(enrollment(status), payment_method=method)
    return EnrollmentChange(kind, changed, previous, T0 + timedelta(minutes=5))


@pytest.mark.parametrize(
    ("kind", "status", "previous", "outcome"),
    [
        (EventType.CREATED, S.AWAITING_APPROVAL, None, "created"),
        (EventType.STATUS_CHANGED, S.APPROVED, S.AWAITING_APPROVAL, "approved"),
        (EventType.STATUS_CHANGED, S.APPROVED, S.PENDING_PAYMENT, "approved"),
        (EventType.STATUS_CHANGED, S.REJECTED, S.AWAITING_APPROVAL, "rejected"),
        (EventType.STATUS_CHANGED, S.PAYMENT_FAILED, S.PENDING_PAYMENT, "payment_failed"),
        (EventType.STATUS_CHANGED, S.CANCELLED, S.PENDING_PAYMENT, "cancelled"),
        (EventType.STATUS_CHANGED, S.CANCELLED, S.APPROVED, "revoked"),
        (EventType.STATUS_CHANGED, S.PENDING_PAYMENT, S.PAYMENT_FAILED, None),  # a retry
        (EventType.STATUS_CHANGED, S.PENDING_PAYMENT, S.PENDING_PAYMENT, None),  # a hold lapsed
        (EventType.PAYMENT_RECORDED, S.PENDING_PAYMENT, S.PENDING_PAYMENT, None),
    ],
)
def test_outcome_of_each_change(kind: EventType, status: S, previous: S | None, outcome: str | None) -> None:
    assert outcome_of(change(kind, status, previous)) == outcome


def test_only_an_admins_decision_on_eft_is_an_approval_wait() -> None:
    assert approval_wait(change(EventType.STATUS_CHANGED, S.APPROVED, S.AWAITING_APPROVAL)) == 300
    assert approval_wait(change(EventType.STATUS_CHANGED, S.REJECTED, S.AWAITING_APPROVAL)) == 300
    card = change(EventType.STATUS_CHANGED, S.APPROVED, S.PENDING_PAYMENT, PaymentMethod.CARD)
    assert approval_wait(card) is None
    assert approval_wait(change(EventType.STATUS_CHANGED, S.CANCELLED, S.AWAITING_APPROVAL)) is None
    assert approval_wait(change(EventType.CREATED, S.AWAITING_APPROVAL, None)) is None
