"""The dashboard over a seeded population with known answers: counts per day and status,
conversion per payment method, the two durations' percentiles, the approval queue."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.dashboard import DayCount, dashboard, percentile
from domain.enrollment import EnrollmentStatus, PaymentMethod
from domain.errors import DomainError
from tests.store.conftest import StoreEnv

S = EnrollmentStatus


def change(at: datetime, status: S, previous: S | None, action: str) -> dict[str, Any]:
    actor = {"kind": "ADMIN" if action.endswith("Enrollment") else "STUDENT", "id": "x"}
    return {
        "at": at, "version": 1, "status": status.value, "actor": actor, "action": action, "reason": None,
        "previousStatus": None if previous is None else previous.value,
    }  # fmt: skip


def doc(key: str, created: datetime, status: S, method: str, history: list[dict[str, Any]]) -> dict[str, Any]:
    # Only what the dashboard reads, and a user and course of its own (one active per pair).
    return {
        "_id": key, "userId": key, "courseId": "course", "createdAt": created, "status": status.value,
        "paymentMethod": method, "history": history,
    }  # fmt: skip


def eft(n: int, created: datetime, decided: S | None, after: float = 0) -> dict[str, Any]:
    history = [change(created, S.AWAITING_APPROVAL, None, "enroll")]
    if decided is not None:
        at = created + timedelta(seconds=after)
        history.append(change(at, decided, S.AWAITING_APPROVAL, "approveEnrollment"))
    status = decided or S.AWAITING_APPROVAL
    return doc(f"e{n}", created, status, "EFT", history)


def card(n: int, created: datetime, paid_after: float | None, approved_after: float | None) -> dict[str, Any]:
    history = [change(created, S.PENDING_PAYMENT, None, "enroll")]
    status = S.PENDING_PAYMENT
    if paid_after is not None:
        paid = created + timedelta(seconds=paid_after)
        history.append(change(paid, S.AWAITING_APPROVAL, S.PENDING_PAYMENT, "payment.succeeded"))
        status = S.AWAITING_APPROVAL
        if approved_after is not None:
            at = paid + timedelta(seconds=approved_after)
            history.append(change(at, S.APPROVED, S.AWAITING_APPROVAL, "approveEnrollment"))
            status = S.APPROVED
    return doc(f"c{n}", created, status, "CARD", history)


async def test_the_dashboard_of_a_known_population(store: StoreEnv) -> None:
    now = store.clock.now()  # 2026-03-01 09:00 UTC
    d1, d2 = now - timedelta(days=1, hours=2), now - timedelta(days=2)
    await store.collections.enrollments.insert_many(
        [
            eft(1, d1, S.APPROVED, 600),
            eft(2, d1, S.APPROVED, 1200),
            card(3, d1, paid_after=60, approved_after=300),
            card(4, d2, paid_after=None, approved_after=None),
            eft(5, d2, S.REJECTED, 1800),
            eft(6, d2, None),
            eft(7, now - timedelta(days=40), S.APPROVED, 5),  # outside the window
        ]
    )
    found = await dashboard(store.services.dashboard, store.services.jobs, store.clock, 30)
    assert found.per_day == [
        DayCount("2026-02-27", S.AWAITING_APPROVAL, 1),
        DayCount("2026-02-27", S.PENDING_PAYMENT, 1),
        DayCount("2026-02-27", S.REJECTED, 1),
        DayCount("2026-02-28", S.APPROVED, 3),
    ]
    rates = {c.method: (c.enrolled, c.approved, c.rate) for c in found.conversion}
    assert rates == {PaymentMethod.EFT: (4, 2, 0.5), PaymentMethod.CARD: (2, 1, 0.5)}
    assert (found.payment_confirmation.samples, found.payment_confirmation.p50_seconds) == (1, 60)
    wait = found.approval_wait
    assert (wait.samples, wait.p50_seconds, wait.p90_seconds) == (4, 600, 1800)
    assert found.pending_approvals == 1 + 0  # e6; the card c4 has not paid yet
    assert found.jobs.dead == 0

    narrower = await dashboard(store.services.dashboard, store.services.jobs, store.clock, 1)
    assert [d.day for d in narrower.per_day] == []  # d1 is 26 hours ago


async def test_days_out_of_range_are_refused(store: StoreEnv) -> None:
    for days in (0, -1, 367):
        try:
            await dashboard(store.services.dashboard, store.services.jobs, store.clock, days)
        except DomainError as refused:
            assert refused.error.field == "days"
        else:
            raise AssertionError(days)


def test_percentiles_by_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.0
    assert percentile([float(n) for n in range(1, 11)], 0.9) == 9.0
