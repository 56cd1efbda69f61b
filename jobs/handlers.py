"""What running one job means, per kind: most POST to a remote system, reconciliation asks the
card gateway. The pool claims, leases and records; a handler only turns a job into a Decision."""

from __future__ import annotations

import random
from typing import Protocol

from domain.backoff import Uniform
from domain.changes import Changes
from domain.checkouts import CheckoutDesk, reconcile
from domain.jobs import Decision, Job, RetryPolicy
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
