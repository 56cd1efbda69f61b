"""What the use cases need from the outside world, as Protocols; adapters live elsewhere."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from domain.actors import Cause
from domain.audit import AuditEntry, AuditFilter, AuditSource
from domain.coupon import Coupon, NewCoupon, ReservationOutcome
from domain.course import Course, CourseChanges
from domain.enrollment import AccessStatus, Action, Effect, Enrollment, EnrollmentStatus, PaymentMethod
from domain.enrollment_filter import EnrollmentFilter
from domain.events import EnrollmentChange
from domain.jobs import Decision, Job, JobKind, JobStats, JobStatus
from domain.money import Money
from domain.notifications import Notice
from domain.payment_events import EventWrite, PaymentEvent

T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class NewEnrollment:
    id: str
    user_id: str
    email: str | None
    course_id: str
    status: EnrollmentStatus
    payment_method: PaymentMethod
    full_price: Money
    amount_due: Money
    coupon_code: str | None
    coupon_discount: int
    hold_expires_at: datetime | None
    payment_reference: str | None
    version: int
    pending: frozenset[Effect]
    cause: Cause
    at: datetime  # the history entry's time (the server stamps createdAt in the same write)


@dataclass(frozen=True)
class TransitionExtras:
    approved_by: str | None = None
    rejection_reason: str | None = None
    new_reference: str | None = None
    failure_reason: str | None = None  # kept when the target is PAYMENT_FAILED
    # Only while this is still the enrollment's payment reference (an old checkout expiring
    # must not fail the one a retry opened).
    expected_reference: str | None = None
    cause: Cause | None = None  # who and why, recorded in the same write (the use cases always set it)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One keyset page: its rows, whether more follow, the total matching, and each row's cursor."""

    rows: list[T]
    has_next: bool
    total: int
    cursors: list[str]


class CourseStore(Protocol):
    def new_id(self) -> str: ...
    async def get_course(self, course_id: str) -> Course | None: ...
    async def get_courses(self, course_ids: Sequence[str]) -> dict[str, Course]: ...
    async def list_published(self) -> list[Course]: ...
    async def insert_course(self, course: Course, entry: AuditEntry | None = None) -> bool:
        """`entry` rides in the same write (the document's audit outbox)."""

    async def update_course(
        self, course_id: str, changes: CourseChanges, entry: AuditEntry
    ) -> tuple[Course, int] | None:
        """The course as changed, and the change's revision (1, 2, ...); None for an unknown id.
        `entry` rides in the same write (the document's audit outbox)."""


class CouponStore(Protocol):
    async def insert_coupon(self, coupon: NewCoupon, entry: AuditEntry | None = None) -> bool:
        """`entry` rides in the same write (the document's audit outbox)."""

    async def get_coupon(self, code: str, now: datetime) -> Coupon | None: ...
    async def reserve(
        self, code: str, enrollment_id: str, user_id: str, now: datetime, expires_at: datetime, currency: str
    ) -> Coupon | None:
        """Hold the coupon, in one conditional write, only if it is live, not used up, not already
        the user's, and takes a percentage or a fixed amount in `currency` (the course's price's)."""
        ...

    async def user_holds_or_redeemed(self, code: str, user_id: str, now: datetime) -> bool: ...
    async def disable(self, code: str, now: datetime, entry: AuditEntry) -> Coupon | None:
        """Withdraw the coupon from new holds; None when unknown or already withdrawn. `entry`
        rides in the same write (the document's audit outbox)."""

    async def page(self, first: int, after: str | None, now: datetime) -> Page[Coupon]:
        """By code; `reserved` counts the holds live at `now`."""

    async def pin_hold(self, code: str, enrollment_id: str) -> bool: ...
    async def redeem_hold(self, code: str, enrollment_id: str, user_id: str) -> bool: ...
    async def release_hold(self, code: str, enrollment_id: str, *, lapsed: bool) -> bool: ...


class EnrollmentStore(Protocol):
    def new_id(self) -> str: ...
    async def insert(self, draft: NewEnrollment) -> Enrollment | None: ...
    async def get(self, enrollment_id: str) -> Enrollment | None: ...
    async def active_for(self, user_id: str, course_id: str) -> Enrollment | None: ...
    async def current_for(self, user_id: str, course_ids: Sequence[str]) -> dict[str, Enrollment]:
        """Each course's current enrollment (the highest version: only it can be active), one
        document per course however long the history grew."""

    async def recent_for(self, user_id: str, limit: int) -> list[Enrollment]:
        """The user's enrollments, newest first, at most `limit`."""

    async def apply_transition(
        self, enrollment_id: str, action: Action, extras: TransitionExtras, *, now: datetime
    ) -> Enrollment | None: ...
    async def lapse_hold(self, enrollment_id: str, now: datetime, cause: Cause) -> Enrollment | None: ...
    async def due_lapses(self, now: datetime, limit: int) -> list[str]: ...
    async def set_access(self, job: Job, status: AccessStatus, cause: Cause) -> Enrollment | None:
        """Mirror an access job's state; None when a newer state (or another status) is shown."""

    async def with_pending_effects(self, older_than: datetime, limit: int) -> list[Enrollment]:
        """Enrollments with follow-up work still recorded, last written before `older_than`."""

    async def clear_pending(self, settled: Sequence[Enrollment]) -> None:
        """Take each enrollment's `pending` effects out of its outbox, all in one round trip; the
        audit entry only while it is still at the version read (a later change put its own there,
        for its writer or the sweep)."""

    async def set_gateway_transaction(
        self, enrollment_id: str, reference: str, transaction_id: str
    ) -> Enrollment | None:
        """Records the checkout's id while `reference` is still current; None otherwise."""

    async def get_many(self, enrollment_ids: Sequence[str]) -> dict[str, Enrollment]: ...
    async def page(self, where: EnrollmentFilter, first: int, after: str | None) -> Page[Enrollment]:
        """In creation order, oldest first."""

    def batches(self, where: EnrollmentFilter, size: int) -> AsyncIterator[list[Enrollment]]:
        """Every match in the page order, `size` at a time, from one cursor (an export's read)."""


class PaymentLedger(Protocol):
    async def record_event(self, event: PaymentEvent, now: datetime) -> EventWrite:
        """Records the event id and applies its effect in one conditional write, or says why not."""

    async def by_reference(self, reference: str) -> Enrollment | None: ...


class AuditLog(Protocol):
    """Append-only: entries are inserted, never updated or deleted."""

    async def materialise(self, enrollments: Sequence[Enrollment]) -> None:
        """Insert the entries of the enrollments' histories that the log lacks, in one round trip
        (idempotent)."""

    async def append(self, entry: AuditEntry) -> bool:
        """Insert an entry for an action that changes nothing (an export); False when already there."""

    async def settle(self, source: AuditSource, doc_id: str) -> None:
        """Copy the entries waiting in a document's audit outbox to the log, then take them out."""

    async def settle_stale(self, older_than: datetime, limit: int) -> int:
        """`settle` every document whose outbox holds an entry older than `older_than` (a crash)."""

    async def page(self, where: AuditFilter, first: int, after: str | None) -> Page[AuditEntry]:
        """Newest first."""


class EventPublisher(Protocol):
    async def publish(self, change: EnrollmentChange) -> None:
        """Best effort: logs and counts failures, never raises."""

    async def course_changed(self, course_id: str) -> None:
        """Tell every open card of the course to re-read it; best effort, as `publish`."""


class JobQueue(Protocol):
    async def enqueue_effects(
        self,
        approved: Sequence[Enrollment],
        revoked: Sequence[Enrollment],
        notices: Sequence[tuple[Enrollment, Notice]],
    ) -> None:
        """In one round trip: approval's jobs, the REVOKE_ACCESS job and notification jobs. Each job's
        id derives from its enrollment (and notice), so a job already written is left as it is."""

    async def enqueue_reconcile(self, enrollment: Enrollment, reference: str, run_at: datetime) -> None:
        """Idempotent: one RECONCILE_PAYMENT job per payment reference."""

    def on_enqueue(self, listener: Callable[[bool], None]) -> None:
        """Called after jobs were written by this process, to wake idle local workers."""

    async def claim_jobs(self, worker_id: str, lease_seconds: float, now: datetime, limit: int) -> list[Job]:
        """Up to `limit` of the oldest claimable jobs, now RUNNING under this worker's lease, in one
        write; empty when none is due."""

    async def finish_jobs(self, outcomes: Sequence[tuple[Job, Decision]], now: datetime) -> list[Job | None]:
        """Record claimed attempts' outcomes in one write: each job as now stored, in order, or None
        where the lease was lost meanwhile."""

    async def release(self, job: Job, now: datetime) -> bool:
        """Give an interrupted claim back at once (shutdown); the attempt is not counted."""

    async def flush(self) -> None:
        """Write what this process keeps in memory for a while (success counts): the pool calls it
        while idle, about once a poll, and when it stops."""

    async def next_due(self, now: datetime) -> datetime | None:
        """When the next job becomes claimable: the earliest due PENDING job or expiring lease."""

    async def get(self, job_id: str) -> Job | None: ...
    async def retry_dead(self, job_id: str, now: datetime, entry: AuditEntry) -> Job | None:
        """DEAD -> PENDING; None when the job is unknown or not DEAD."""

    async def enqueue_notice(self, enrollment: Enrollment, notice: Notice) -> None:
        """A notification job, written once per (enrollment, template, key)."""

    async def job_of(self, enrollment_id: str, kind: JobKind) -> Job | None:
        """The enrollment's one job of `kind` (approval's jobs); None when none was written."""

    async def dead_ids(self, kind: JobKind, after: str | None, limit: int) -> list[str]:
        """Ids of DEAD jobs of `kind`, in id order after `after`."""

    async def mark_access_synced(self, job: Job) -> None: ...
    async def access_unsynced(self, older_than: datetime, limit: int) -> list[Job]: ...
    async def stats(self, now: datetime) -> JobStats: ...
    async def oldest_pending(self, now: datetime) -> dict[JobKind, float]:
        """Per kind with a PENDING job, how long (seconds) its oldest has existed."""

    async def page(self, status: JobStatus | None, first: int, after: str | None) -> Page[Job]: ...


class Observer(Protocol):
    """Counts outcomes for monitoring (the metrics adapter); never raises, never waits."""

    def coupon_reservation(self, outcome: ReservationOutcome) -> None: ...
    def gateway_request(self, gateway: str, operation: str, outcome: str, seconds: float) -> None: ...
    def payment_confirmed(self, gateway: str, seconds: float) -> None:
        """A checkout's payment approved the enrollment `seconds` after the checkout was opened."""

    def enrollment_outcome(self, method: str, outcome: str) -> None:
        """An enrollment paid by `method` (card, eft) was created, approved, rejected, ...
        (`domain.enrollment_outcomes`)."""

    def approval_waited(self, seconds: float) -> None:
        """An admin decided an EFT enrollment `seconds` after it was created."""
