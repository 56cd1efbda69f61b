"""The retry policy: which attempts retry, how long they wait, when a job is dead."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.enrollment import AccessStatus
from domain.jobs import (
    SUCCEEDED,
    Attempt,
    CallResult,
    Job,
    JobKind,
    JobStatus,
    RetryPolicy,
    Verdict,
    access_status_for,
    classify_response,
    network_failure,
    parse_retry_after,
)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def top(low: float, high: float) -> float:
    return high


def bottom(low: float, high: float) -> float:
    return low


def job(attempts: int, round_start: int = 0) -> Job:
    return Job(
        id="e1:provision_access",
        kind=JobKind.PROVISION_ACCESS,
        enrollment_id="e1",
        user_id="u1",
        course_id="c1",
        email=None,
        status=JobStatus.RUNNING,
        attempts=attempts,
        next_run_at=NOW,
        last_error=None,
        created_at=NOW,
        updated_at=NOW,
        round_start=round_start,
    )


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_2xx_is_success(status: int) -> None:
    assert classify_response(status, None, NOW) == SUCCEEDED


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599])
def test_5xx_retries(status: int) -> None:
    assert classify_response(status, None, NOW).outcome is CallResult.RETRYABLE


def test_429_retries_and_honours_retry_after_seconds_or_date() -> None:
    assert classify_response(429, "7", NOW) == Attempt(CallResult.RETRYABLE, "HTTP 429", 7.0)
    later = "Sun, 01 Nov 2026 12:00:30 GMT"
    assert classify_response(429, later, NOW).retry_after == 30.0
    assert classify_response(429, None, NOW).retry_after is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 301, 100])
def test_other_statuses_are_permanent(status: int) -> None:
    assert classify_response(status, "5", NOW).outcome is CallResult.PERMANENT


@pytest.mark.parametrize("value", ["", "  ", "soon", "-3", "1.5", "Sun, 99 Nov 2026 12:00:30 GMT"])
def test_unreadable_retry_after_is_ignored(value: str) -> None:
    assert parse_retry_after(value, NOW) is None


def test_retry_after_in_the_past_means_now() -> None:
    assert parse_retry_after("Sun, 01 Nov 2026 11:00:00 GMT", NOW) == 0.0


def test_network_failures_retry() -> None:
    assert network_failure("timeout").outcome is CallResult.RETRYABLE


def test_full_jitter_window_doubles_then_caps() -> None:
    policy = RetryPolicy(max_attempts=20, base_seconds=2, cap_seconds=300)
    windows = [policy.window(n) for n in range(1, 12)]
    assert windows[:7] == [4, 8, 16, 32, 64, 128, 256]
    assert windows[7:] == [300] * 4
    assert windows == sorted(windows)
    assert policy.window(10_000) == 300


def test_delay_is_drawn_from_zero_to_the_window() -> None:
    policy = RetryPolicy(max_attempts=6, base_seconds=2, cap_seconds=300)
    seen: list[tuple[float, float]] = []

    def record(low: float, high: float) -> float:
        seen.append((low, high))
        return high / 2

    decision = policy.decide(job(3), Attempt(CallResult.RETRYABLE, "HTTP 503"), record)
    assert seen == [(0.0, 16.0)]
    assert decision.verdict is Verdict.RETRY
    assert decision.delay == 8.0
    assert decision.error == "HTTP 503"


def test_retry_after_wins_when_larger_than_the_jitter() -> None:
    policy = RetryPolicy(base_seconds=2, cap_seconds=300)
    throttled = Attempt(CallResult.RETRYABLE, "HTTP 429", retry_after=30.0)
    assert policy.decide(job(1), throttled, top).delay == 30.0
    assert policy.decide(job(5), throttled, top).delay == 64.0
    assert policy.decide(job(5), throttled, bottom).delay == 30.0


def test_success_and_permanent_failure() -> None:
    policy = RetryPolicy()
    assert policy.decide(job(1), SUCCEEDED, top).verdict is Verdict.SUCCEEDED
    dead = policy.decide(job(1), Attempt(CallResult.PERMANENT, "HTTP 400"), top)
    assert dead.verdict is Verdict.DEAD
    assert dead.error == "HTTP 400"


def test_max_attempts_then_dead_and_an_admin_retry_restarts_the_budget() -> None:
    policy = RetryPolicy(max_attempts=3)
    failed = Attempt(CallResult.RETRYABLE, "timeout")
    verdicts = [policy.decide(job(n), failed, top).verdict for n in (1, 2, 3)]
    assert verdicts == [Verdict.RETRY, Verdict.RETRY, Verdict.DEAD]
    # After an admin retry at attempt 3, the window restarts from the base too.
    retried = job(4, round_start=3)
    decision = policy.decide(retried, failed, top)
    assert decision.verdict is Verdict.RETRY
    assert decision.delay == policy.window(1)
    assert policy.decide(replace(retried, attempts=6), failed, top).verdict is Verdict.DEAD


def test_access_follows_the_provisioning_job() -> None:
    for kind in (JobKind.PROVISION_ACCESS, JobKind.REVOKE_ACCESS):
        assert access_status_for(kind, JobStatus.PENDING) is AccessStatus.PENDING
        assert access_status_for(kind, JobStatus.RUNNING) is AccessStatus.PENDING
        assert access_status_for(kind, JobStatus.DEAD) is AccessStatus.FAILED
    assert access_status_for(JobKind.PROVISION_ACCESS, JobStatus.SUCCEEDED) is AccessStatus.PROVISIONED
    assert access_status_for(JobKind.REVOKE_ACCESS, JobStatus.SUCCEEDED) is AccessStatus.REVOKED


def test_the_request_body_names_the_contract_fields() -> None:
    assert job(1).body() == {
        "jobId": "e1:provision_access",
        "kind": "PROVISION_ACCESS",
        "enrollmentId": "e1",
        "userId": "u1",
        "courseId": "c1",
        "email": None,
    }


def test_the_defaults_retry_for_hours_with_a_900s_cap() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.cap_seconds, policy.give_up_after_seconds) == (25, 900, 86400)
    worst_case = sum(policy.window(n) for n in range(1, policy.max_attempts))
    # The README's schedule table: 4, 8, ... 512 s, then 900 s sixteen times: 4.3 hours at most.
    assert worst_case == 1020 + 16 * 900


def test_dead_once_the_next_attempt_would_start_past_the_time_budget() -> None:
    policy = RetryPolicy(max_attempts=1000, base_seconds=2, cap_seconds=900, give_up_after_seconds=3600)
    failed = Attempt(CallResult.RETRYABLE, "HTTP 503")
    assert policy.decide(job(20), failed, top, NOW + timedelta(seconds=2600)).verdict is Verdict.RETRY
    # 900 s more would land at 3601 s after the job was created.
    late = policy.decide(job(20), failed, top, NOW + timedelta(seconds=2701))
    assert late.verdict is Verdict.DEAD
    assert late.error == "HTTP 503 (gave up after 3600s)"
    # An admin retry restarts the clock as it restarts the attempt budget.
    retried = replace(job(21, round_start=20), round_started_at=NOW + timedelta(seconds=2800))
    assert policy.decide(retried, failed, top, NOW + timedelta(seconds=2801)).verdict is Verdict.RETRY
