"""The state machine, pair by pair, against the contract's lifecycle written out by hand."""

from __future__ import annotations

import itertools

import pytest

from domain.enrollment import (
    ACTIVE_STATUSES,
    HOLD_LAPSES_IN,
    TRANSITIONS,
    Action,
    EnrollmentStatus,
    PaymentMethod,
    initial_status,
    next_status,
)
from domain.money import Money

S = EnrollmentStatus

# Written from the contract, not copied from the code, so the table is checked, not echoed.
EXPECTED: dict[tuple[Action, EnrollmentStatus], EnrollmentStatus] = {
    (Action.APPROVE, S.AWAITING_APPROVAL): S.APPROVED,
    (Action.REJECT, S.AWAITING_APPROVAL): S.REJECTED,
    (Action.CANCEL, S.PENDING_PAYMENT): S.CANCELLED,
    (Action.CANCEL, S.AWAITING_APPROVAL): S.CANCELLED,
    (Action.CANCEL, S.PAYMENT_FAILED): S.CANCELLED,
    (Action.RETRY_PAYMENT, S.PAYMENT_FAILED): S.PENDING_PAYMENT,
    (Action.FAIL_PAYMENT, S.PENDING_PAYMENT): S.PAYMENT_FAILED,
    (Action.SETTLE_PAYMENT, S.PENDING_PAYMENT): S.APPROVED,
    (Action.SETTLE_PAYMENT, S.PAYMENT_FAILED): S.APPROVED,
    (Action.REVOKE, S.APPROVED): S.REVOKED,
}

PAIRS = list(itertools.product(S, Action))


@pytest.mark.parametrize(("status", "action"), PAIRS, ids=[f"{s}-{a}" for s, a in PAIRS])
def test_every_status_action_pair(status: EnrollmentStatus, action: Action) -> None:
    assert next_status(status, action) == EXPECTED.get((action, status))
    assert (status in TRANSITIONS[action].sources) == ((action, status) in EXPECTED)


def test_every_action_has_a_row() -> None:
    assert set(TRANSITIONS) == set(Action)


def test_final_statuses_allow_nothing() -> None:
    for status in (S.REJECTED, S.CANCELLED, S.REVOKED):
        assert all(next_status(status, action) is None for action in Action)
    # An approval ends only in a revocation (a refund, a chargeback, an admin).
    assert {a for a in Action if next_status(S.APPROVED, a) is not None} == {Action.REVOKE}


def test_active_statuses_are_the_contracts() -> None:
    assert {S.PENDING_PAYMENT, S.AWAITING_APPROVAL, S.APPROVED, S.PAYMENT_FAILED} == ACTIVE_STATUSES


def test_holds_lapse_only_while_waiting_for_money() -> None:
    assert {S.PENDING_PAYMENT, S.PAYMENT_FAILED} == HOLD_LAPSES_IN


@pytest.mark.parametrize(
    ("method", "amount", "expected"),
    [
        (PaymentMethod.CARD, 100, S.PENDING_PAYMENT),
        (PaymentMethod.EFT, 100, S.AWAITING_APPROVAL),
        (PaymentMethod.CARD, 0, S.APPROVED),
        (PaymentMethod.EFT, 0, S.APPROVED),
    ],
)
def test_initial_status(method: PaymentMethod, amount: int, expected: EnrollmentStatus) -> None:
    assert initial_status(method, Money(amount, "ZAR")) is expected
