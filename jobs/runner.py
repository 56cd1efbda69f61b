"""The job machinery one process runs: the worker pool, and the sweep that mirrors job states.

The composition root (`server.runtime`) configures it from settings.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx2 as httpx

from domain.changes import Changes
from domain.checkouts import CheckoutDesk
from domain.jobs import ACCESS_KINDS, JobKind
from domain.provisioning import resync_access
from integrations.job_endpoints import JobEndpoints
from jobs.handlers import AccessJob, JobHandler, PostJob, ReconcilePayment
from jobs.notify import NOTIFY_KINDS, Notifier, NotifyJob
from jobs.pool import AttemptCounter, PoolConfig, WorkerPool, uncounted
from realtime.supervise import Supervisor, every

log = logging.getLogger(__name__)


class Jobs:
    """The job machinery one process runs: the shared HTTP client, the pool, the mirror sweep."""

    def __init__(self, pool: WorkerPool | None, sweeps: Supervisor) -> None:
        self.pool = pool
        self._sweeps = sweeps

    async def stop_workers(self) -> bool:
        """Releases what the workers hold and claims nothing more; False if none run here."""
        if self.pool is None:
            return False
        await self.pool.stop()
        return True

    async def stop(self) -> None:
        await self.stop_workers()
        await self._sweeps.stop()


def start_jobs(
    changes: Changes,
    client: httpx.AsyncClient,
    config: PoolConfig,
    targets: Mapping[JobKind, str] | None,
    http_timeout: float,
    count: AttemptCounter = uncounted,
    desk: CheckoutDesk | None = None,
    notifier: Notifier | None = None,
) -> Jobs:
    """`client` is the process's one outbound HTTP client; each job call gets `http_timeout`."""
    if http_timeout >= config.lease_seconds:
        log.warning("ENROLLWIRE_JOB_LEASE_SECONDS should exceed the HTTP timeout, or jobs may run twice")
    sweeps = Supervisor()
    sweeps.start("access-mirror", every(5.0, "mirror job states", lambda: resync_access(changes)))
    pool = None
    if config.workers and targets is None:
        log.error("ENROLLWIRE_LMS_URL / ENROLLWIRE_NOTIFY_URL unset: no job workers run, jobs wait")
    elif config.workers:
        assert targets is not None
        pool = WorkerPool(
            changes,
            job_handlers(changes, client, config, targets, http_timeout, desk, notifier),
            config,
            count,
        )
        pool.start()
    return Jobs(pool, sweeps)


def job_handlers(
    changes: Changes,
    client: httpx.AsyncClient,
    config: PoolConfig,
    targets: Mapping[JobKind, str],
    http_timeout: float,
    desk: CheckoutDesk | None,
    notifier: Notifier | None = None,
) -> dict[JobKind, JobHandler]:
    endpoints = JobEndpoints(client, targets, http_timeout)
    post = PostJob(endpoints, changes, config.policy)
    handlers: dict[JobKind, JobHandler] = {kind: post for kind in targets}
    for kind in ACCESS_KINDS & set(targets):
        handlers[kind] = AccessJob(post, changes)
    if notifier is not None:
        notify = NotifyJob(endpoints, notifier, changes, config.policy)
        handlers |= {kind: notify for kind in NOTIFY_KINDS}
    if desk is not None:
        handlers[JobKind.RECONCILE_PAYMENT] = ReconcilePayment(desk, changes)
    return handlers
