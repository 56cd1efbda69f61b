"""What running one job means, per kind: most POST to a remote system, reconciliation asks the
card gateway. The pool claims, leases and records; a handler only turns a job into a Decision."""

from __future__ import annotations

import random
from typing import Protocol

from domain.backoff import Uniform
from domain.changes import Changes
from domain.checkouts import CheckoutDesk, reconcile
from domain.enrollment import EnrollmentStatus
from domain.jobs import Decision, Job, JobKind, JobStatus, RetryPolicy, Verdict, job_id
from integrations.job_endpoints import JobEndpoints


class JobHandler(Protocol):
    async def run(self, job: Job) -> Decision: ...


class PostJob:
    """One POST per attempt (`JobEndpoints`), retried by the pool's RetryPolicy."""

    def __init__(
        self,
        endpoints: JobEndpoints,
        changes: Changes,
        policy: RetryPolicy,
        uniform: Uniform = random.uniform,
    ) -> None:
        self._endpoints = endpoints
        self._changes = changes
        self._policy = policy
        self._uniform = uniform

    async def run(self, job: Job) -> Decision:
        attempt = await self._endpoints.call(job, self._changes.clock)
        return self._policy.decide(job, attempt, self._uniform, self._changes.clock.now())


class ReconcilePayment:
    """Its own schedule (`domain.checkouts.reconcile`): until a final status or the checkout's TTL."""

    def __init__(self, desk: CheckoutDesk, changes: Changes) -> None:
        self._desk = desk
        self._changes = changes

    async def run(self, job: Job) -> Decision:
        return await reconcile(self._desk, self._changes, job)


# How long a revocation waits before looking again at a provisioning call still in flight.
PROVISIONING_IN_FLIGHT_WAIT = 2.0
WAITING_FOR_PROVISIONING = "waiting for the provisioning call in flight"


class AccessJob:
    """PROVISION_ACCESS and REVOKE_ACCESS of one enrollment reach the LMS in order: a grant sent
    after the revocation would give the access back.

    Provisioning reads the enrollment after its claim and skips the call once it is no longer
    APPROVED; a revocation waits while the provisioning job is RUNNING. The REVOKE_ACCESS job
    only exists after the REVOKED write, so every provisioning claim either finishes before the
    revocation calls or reads REVOKED and calls nothing.
    """

    def __init__(self, post: JobHandler, changes: Changes) -> None:
        self._post = post
        self._changes = changes

    async def run(self, job: Job) -> Decision:
        if job.kind is JobKind.PROVISION_ACCESS:
            enrollment = await self._changes.enrollments.get(job.enrollment_id)
            if enrollment is not None and enrollment.status is not EnrollmentStatus.APPROVED:
                return Decision(Verdict.SUCCEEDED)  # nothing to grant any more
        elif job.kind is JobKind.REVOKE_ACCESS:
            provisioning = await self._changes.jobs.get(job_id(job.enrollment_id, JobKind.PROVISION_ACCESS))
            if provisioning is not None and provisioning.status is JobStatus.RUNNING:
                return Decision(
                    Verdict.RETRY, PROVISIONING_IN_FLIGHT_WAIT, "waiting for provisioning to finish"
                )
        return await self._post.run(job)
