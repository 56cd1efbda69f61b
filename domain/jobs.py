"""Provisioning jobs as values, and the retry policy that decides what follows an attempt.

Pure: no I/O, no clock, no global randomness. The worker measures an attempt, `classify`
turns it into an `Attempt`, and `RetryPolicy.decide` says whether the job succeeded, waits
(and how long), or is dead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

from domain.backoff import Uniform, backoff_window, full_jitter
from domain.enrollment import AccessStatus


class JobKind(StrEnum):
    PROVISION_ACCESS = "PROVISION_ACCESS"
    NOTIFY_STUDENT = "NOTIFY_STUDENT"
    RECONCILE_PAYMENT = "RECONCILE_PAYMENT"  # asks the card gateway about a checkout (no POST)
    NOTIFY_ADMINS = "NOTIFY_ADMINS"  # an alert: money that does not apply, access that died
    REVOKE_ACCESS = "REVOKE_ACCESS"  # takes a revoked enrollment's access away on the LMS


def job_id(enrollment_id: str, kind: JobKind) -> str:
    """One job of each kind per enrollment: enqueueing twice finds the first."""
    return f"{enrollment_id}:{kind.value.lower()}"


# The kinds whose state the enrollment's `access` shows.
ACCESS_KINDS = frozenset({JobKind.PROVISION_ACCESS, JobKind.REVOKE_ACCESS})


# What an approval enqueues; reconciliation is enqueued per checkout instead.
APPROVAL_KINDS = (JobKind.PROVISION_ACCESS, JobKind.NOTIFY_STUDENT)


class JobStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    DEAD = "DEAD"


@dataclass(frozen=True)
class Job:
    id: str
    kind: JobKind
    enrollment_id: str
    user_id: str
    course_id: str
    email: str | None
    status: JobStatus
    attempts: int
    next_run_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    # Attempts made before the last admin retry; the attempt budget restarts there.
    round_start: int = 0
    # +1 on every write to the job, so whoever mirrors it can drop stale states.
    revision: int = 0
    reference: str | None = None  # RECONCILE_PAYMENT: the payment reference it watches
    # What the remote end answered on success (the LMS: launchUrl, accountId).
    result: Mapping[str, str] | None = None
    # When the last admin retry started this round (None: never retried); the time budget restarts there.
    round_started_at: datetime | None = None
    # Notifications: which template, and the event's facts it is rendered with.
    template: str | None = None
    data: Mapping[str, Any] | None = None

    @property
    def attempts_this_round(self) -> int:
        return self.attempts - self.round_start

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "jobId": self.id,
            "kind": self.kind.value,
            "enrollmentId": self.enrollment_id,
            "userId": self.user_id,
            "courseId": self.course_id,
            "email": self.email,
        }
        if self.template is not None:
            body |= {"template": self.template, "data": dict(self.data or {})}
        return body


@dataclass(frozen=True)
class JobStats:
    pending: int
    running: int
    succeeded: int
    dead: int
    oldest_pending_seconds: float | None


class CallResult(StrEnum):
    SUCCESS = "SUCCESS"
    RETRYABLE = "RETRYABLE"
    PERMANENT = "PERMANENT"


@dataclass(frozen=True)
class Attempt:
    """What one call to the remote system came to."""

    outcome: CallResult
    error: str | None = None
    retry_after: float | None = None
    result: Mapping[str, str] | None = None  # what a successful answer carried worth keeping


SUCCEEDED = Attempt(CallResult.SUCCESS)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def classify_response(status_code: int, retry_after: str | None, now: datetime) -> Attempt:
    if 200 <= status_code < 300:
        return SUCCEEDED
    error = f"HTTP {status_code}"
    if status_code == 429:
        return Attempt(CallResult.RETRYABLE, error, parse_retry_after(retry_after, now))
    if status_code >= 500:
        return Attempt(CallResult.RETRYABLE, error)
    # Any other 4xx (and a stray 1xx/3xx): asking again will not change the answer.
    return Attempt(CallResult.PERMANENT, error)


def network_failure(description: str) -> Attempt:
    """Timeouts, refused connections, resets: the remote end may answer next time."""
    return Attempt(CallResult.RETRYABLE, description)


class Verdict(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    RETRY = "RETRY"
    DEAD = "DEAD"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    delay: float = 0.0  # seconds before the next attempt, for RETRY
    error: str | None = None
    result: Mapping[str, str] | None = None  # SUCCEEDED: kept on the job (`Job.result`)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries until the attempt cap or the time budget, whichever comes first: a remote end
    that is down for hours loses nothing, one that never comes back ends DEAD within a day."""

    max_attempts: int = 25
    base_seconds: float = 2.0
    cap_seconds: float = 900.0
    give_up_after_seconds: float = 86400.0

    def window(self, attempts: int) -> float:
        """Upper bound of the full-jitter delay before attempt `attempts + 1`."""
        return backoff_window(attempts + 1, self.base_seconds, self.cap_seconds)

    def delay(self, attempts: int, retry_after: float | None, uniform: Uniform) -> float:
        jittered = full_jitter(attempts + 1, self.base_seconds, self.cap_seconds, uniform)
        return max(jittered, retry_after) if retry_after is not None else jittered

    def decide(self, job: Job, attempt: Attempt, uniform: Uniform, now: datetime | None = None) -> Decision:
        """`job` as claimed for this attempt (its `attempts` already counts it); `now` (the attempt's
        end) applies the time budget: a next attempt due past it means DEAD now."""
        if attempt.outcome is CallResult.SUCCESS:
            return Decision(Verdict.SUCCEEDED, result=attempt.result)
        if attempt.outcome is CallResult.PERMANENT or job.attempts_this_round >= self.max_attempts:
            return Decision(Verdict.DEAD, error=attempt.error)
        delay = self.delay(job.attempts_this_round, attempt.retry_after, uniform)
        if now is not None and now + timedelta(seconds=delay) > self.give_up_at(job):
            return Decision(
                Verdict.DEAD, error=f"{attempt.error} (gave up after {self.give_up_after_seconds:g}s)"
            )
        return Decision(Verdict.RETRY, delay, attempt.error)

    def give_up_at(self, job: Job) -> datetime:
        start = job.round_started_at or job.created_at
        return start + timedelta(seconds=self.give_up_after_seconds)


def access_status_for(kind: JobKind, status: JobStatus) -> AccessStatus:
    """What the enrollment's `access` shows while its access job (`ACCESS_KINDS`) is in `status`."""
    if status is JobStatus.SUCCEEDED:
        return AccessStatus.REVOKED if kind is JobKind.REVOKE_ACCESS else AccessStatus.PROVISIONED
    if status is JobStatus.DEAD:
        return AccessStatus.FAILED
    return AccessStatus.PENDING
