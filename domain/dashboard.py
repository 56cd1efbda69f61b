"""The admins' dashboard: what happened over the last days, and what waits now.

Counts come from one grouping over the window's enrollments (day x status x payment method).
The two durations are percentiles over the newest `SAMPLE` enrollments of the window, read
from their histories: enough for a median and a p90 an admin acts on, bounded whatever the
traffic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from domain.enrollment import ChangeRecord, EnrollmentStatus, PaymentMethod
from domain.errors import DomainError, ErrorCode
from domain.jobs import JobStats
from domain.ports import Clock, JobQueue

MAX_DAYS = 366
SAMPLE = 2000
S = EnrollmentStatus


@dataclass(frozen=True)
class GroupCount:
    day: str  # YYYY-MM-DD, UTC
    status: EnrollmentStatus
    method: PaymentMethod
    count: int


@dataclass(frozen=True)
class Timeline:
    """One enrollment's creation and history, as the durations need them."""

    created_at: datetime
    history: tuple[ChangeRecord, ...]


@dataclass(frozen=True)
class DayCount:
    day: str
    status: EnrollmentStatus
    count: int


class DashboardReader(Protocol):
    """The aggregations the dashboard reads; each is served by an enrollment index."""

    async def counts_since(self, since: datetime) -> list[GroupCount]: ...
    async def timelines_since(self, since: datetime, limit: int) -> list[Timeline]:
        """The newest `limit` enrollments created since `since`."""

    async def count_status(self, status: EnrollmentStatus) -> int: ...


@dataclass(frozen=True)
class Conversion:
    method: PaymentMethod
    enrolled: int
    approved: int

    @property
    def rate(self) -> float:
        return 0.0 if self.enrolled == 0 else self.approved / self.enrolled


@dataclass(frozen=True)
class Durations:
    samples: int
    p50_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class Dashboard:
    days: int
    since: datetime
    per_day: list[DayCount]  # summed over payment methods
    conversion: list[Conversion]
    payment_confirmation: Durations  # from enrolling to the payment's confirmation
    approval_wait: Durations  # from awaiting approval to an admin's decision
    pending_approvals: int
    jobs: JobStats


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-int(q * 1000) * len(ordered) // 1000)))
    return ordered[rank - 1]


def _durations(values: list[float]) -> Durations:
    return Durations(len(values), percentile(values, 0.5), percentile(values, 0.9))


def payment_seconds(t: Timeline) -> float | None:
    for change in t.history:
        if change.previous_status is S.PENDING_PAYMENT and change.status in (S.AWAITING_APPROVAL, S.APPROVED):
            return (change.at - t.created_at).total_seconds()
    return None


def approval_wait_seconds(t: Timeline) -> float | None:
    waiting_since = t.created_at
    for change in t.history:
        if change.status is S.AWAITING_APPROVAL:
            waiting_since = change.at
        elif change.previous_status is S.AWAITING_APPROVAL and change.status in (S.APPROVED, S.REJECTED):
            return (change.at - waiting_since).total_seconds()
    return None


def summarise(groups: Iterable[GroupCount]) -> tuple[list[DayCount], list[Conversion]]:
    per_day: dict[tuple[str, EnrollmentStatus], int] = {}
    enrolled: dict[PaymentMethod, int] = dict.fromkeys(PaymentMethod, 0)
    approved: dict[PaymentMethod, int] = dict.fromkeys(PaymentMethod, 0)
    for g in groups:
        per_day[(g.day, g.status)] = per_day.get((g.day, g.status), 0) + g.count
        enrolled[g.method] += g.count
        if g.status is S.APPROVED:
            approved[g.method] += g.count
    days = [DayCount(day, status, n) for (day, status), n in sorted(per_day.items())]
    return days, [Conversion(m, enrolled[m], approved[m]) for m in PaymentMethod]


async def dashboard(reader: DashboardReader, jobs: JobQueue, clock: Clock, days: int) -> Dashboard:
    if not 1 <= days <= MAX_DAYS:
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, f"days must be 1-{MAX_DAYS}", "days")
    now = clock.now()
    since = now - timedelta(days=days)
    per_day, conversion = summarise(await reader.counts_since(since))
    timelines = await reader.timelines_since(since, SAMPLE)
    paid = [s for t in timelines if (s := payment_seconds(t)) is not None]
    waited = [s for t in timelines if (s := approval_wait_seconds(t)) is not None]
    return Dashboard(
        days=days,
        since=since,
        per_day=per_day,
        conversion=conversion,
        payment_confirmation=_durations(paid),
        approval_wait=_durations(waited),
        pending_approvals=await reader.count_status(S.AWAITING_APPROVAL),
        jobs=await jobs.stats(now),
    )
