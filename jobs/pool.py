"""The job worker pool: N asyncio tasks that claim jobs with a lease and POST them out.

Idle workers cost nothing: they wait on their own event. One scheduler task per pool asks
the database when the next job is due (a retry's `nextRunAt` or an expiring lease) and
sleeps until then, capped by `job_poll_seconds` so jobs written by other instances are
seen; a local enqueue or retry wakes the workers at once. An idle pool therefore makes
two small queries per `job_poll_seconds`, whatever its size (and, after jobs succeeded, one
write of their count), and a pool whose workers are all busy makes none. Workers claim one
at a time: concurrent claims would all race for the same oldest job.

On stop, a job in flight is released (back to PENDING, due now, the attempt not counted)
so another instance picks it up at once; the remote end dedupes by `Idempotency-Key`.
A claim or an outcome already sent to the database is waited for first: cut short, the
write may still land, and a claim nobody hears of holds its job RUNNING for a whole lease.
A worker that dies without stopping keeps its lease until it expires.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from domain.changes import Changes
from domain.jobs import Decision, Job, JobKind, RetryPolicy, Verdict
from domain.ports import JobQueue
from domain.provisioning import mirror_access
from jobs.handlers import JobHandler
from realtime.supervise import Supervisor

log = logging.getLogger(__name__)

# Never spin on a due time that another worker just took.
MIN_IDLE_SLEEP = 0.05
# How long a stopping worker waits for each database write: one it had already sent (a claim,
# an outcome), then the release. Past that its job waits for the lease to expire.
RELEASE_TIMEOUT = 2.0

T = TypeVar("T")


# Hears each attempt's result: succeeded, retry, dead, lease_lost, or released/interrupted at stop.
AttemptCounter = Callable[[JobKind, str], None]


def uncounted(kind: JobKind, result: str) -> None:
    pass


@dataclass(frozen=True)
class PoolConfig:
    workers: int
    lease_seconds: float
    poll_seconds: float
    policy: RetryPolicy


class WorkerPool:
    def __init__(
        self,
        changes: Changes,
        handlers: Mapping[JobKind, JobHandler],
        config: PoolConfig,
        count: AttemptCounter = uncounted,
    ) -> None:
        self._changes = changes
        self._count = count
        self._queue: JobQueue = changes.jobs
        self._handlers = dict(handlers)
        self._config = config
        self._instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wakeups = [asyncio.Event() for _ in range(config.workers)]
        self._reschedule = asyncio.Event()
        self._claiming = asyncio.Lock()
        self._idle_workers = 0
        self._someone_idle = asyncio.Event()
        self._tasks = Supervisor()

    def start(self) -> None:
        if not self._wakeups:
            return
        self._queue.on_enqueue(self.wake)
        for n, wakeup in enumerate(self._wakeups):
            self._tasks.start(f"job-worker-{n}", self._work(f"{self._instance}:{n}", wakeup))
        self._tasks.start("job-scheduler", self._schedule())

    async def stop(self) -> None:
        await self._tasks.stop()
        await self._queue.flush()

    def wake(self, later: bool = False) -> None:
        # A job due now is the workers' to take; one due later (a reconciliation) changes when the
        # scheduler must look again. Only then does it read the queue again: on every enqueue it
        # would repeat its two reads for nothing.
        self._wake_workers()
        if later:
            self._reschedule.set()

    def _wake_workers(self) -> None:
        for wakeup in self._wakeups:
            wakeup.set()

    async def _schedule(self) -> None:
        cap = self._config.poll_seconds
        while True:
            # Busy workers claim again by themselves when they finish: only an idle one needs telling.
            await self._someone_idle.wait()
            self._reschedule.clear()
            try:
                now = self._changes.clock.now()
                due = await self._queue.next_due(now)
                # Idle, so at most about once a poll: the success counts held in memory.
                await self._queue.flush()
            except Exception:
                log.exception("could not read the next due job; retrying in %.1fs", cap)
                due = None
            else:
                if due is not None and due <= now:
                    # Awake workers claim until nothing is due: asking again meanwhile would only
                    # repeat this query while they are busy.
                    self._wake_workers()
                    due = None
            wait = cap if due is None else min(cap, max(MIN_IDLE_SLEEP, (due - now).total_seconds()))
            await _wait(self._reschedule, wait)

    async def _work(self, worker_id: str, wakeup: asyncio.Event) -> None:
        while True:
            # Cleared before the claim: a wake during it is not lost.
            wakeup.clear()
            try:
                # One claim at a time per pool: concurrent claims race for the same oldest job, and
                # each loser's write conflicts and runs its query again.
                async with self._claiming:
                    job = await self._claim(worker_id)
            except Exception:
                log.exception("claiming a job failed")
                await _wait(wakeup, self._config.poll_seconds)
                continue
            if job is None:
                await self._idle(wakeup)
                continue
            try:
                await self._run(job)
            except Exception:
                # The lease runs out and another attempt follows; nothing is lost.
                log.exception("job %s failed unexpectedly", job.id, extra=_ids(job))

    async def _idle(self, wakeup: asyncio.Event) -> None:
        self._idle_workers += 1
        self._someone_idle.set()
        try:
            await wakeup.wait()
        finally:
            self._idle_workers -= 1
            if not self._idle_workers:
                self._someone_idle.clear()

    async def _claim(self, worker_id: str) -> Job | None:
        claim = self._queue.claim_job(worker_id, self._config.lease_seconds, self._changes.clock.now())
        claiming = asyncio.create_task(claim, name=f"{worker_id} claim")  # named: not a request's
        try:
            return await asyncio.shield(claiming)
        except asyncio.CancelledError:
            # Stopped mid-claim: the database may have handed this worker a job already. Unheard
            # of, it would stay RUNNING until its lease ran out; given back, another instance
            # takes it at once.
            job = await _settled(claiming, "claiming a job")
            if job is not None:
                await self._give_back(job)
            raise

    async def _run(self, job: Job) -> None:
        try:
            decision = await self._decide(job)
        except asyncio.CancelledError:
            await self._give_back(job)
            raise
        finish = self._queue.finish(job, decision, self._changes.clock.now())
        finishing = asyncio.create_task(finish, name=f"job {job.id} finish")
        try:
            done = await asyncio.shield(finishing)
        except asyncio.CancelledError:
            # Stopped while recording the outcome: see it recorded, or the job stays RUNNING
            # until its lease runs out and the call is sent again.
            if await _settled(finishing, f"recording the outcome of job {job.id}") is not None:
                self._count(job.kind, decision.verdict.value.lower())
            raise
        if done is None:
            self._count(job.kind, "lease_lost")
            log.warning("lost the lease on job %s before finishing it", job.id, extra=_ids(job))
            return
        self._count(job.kind, decision.verdict.value.lower())
        if decision.verdict is Verdict.RETRY:
            self._reschedule.set()
        elif decision.verdict is Verdict.DEAD:
            log.error("job %s is DEAD: %s", job.id, decision.error, extra=_ids(job))
        await mirror_access(self._changes, done)

    async def _decide(self, job: Job) -> Decision:
        handler = self._handlers.get(job.kind)
        if handler is None:
            return Decision(Verdict.DEAD, error=f"no handler for {job.kind.value} in this process")
        return await handler.run(job)

    async def _give_back(self, job: Job) -> None:
        released = await self._release(job)
        self._count(job.kind, "released" if released else "interrupted")

    async def _release(self, job: Job) -> bool:
        try:
            async with asyncio.timeout(RELEASE_TIMEOUT):
                return await asyncio.shield(self._queue.release(job, self._changes.clock.now()))
        except Exception:
            log.warning("could not release job %s; its lease will expire", job.id, extra=_ids(job))
            return False


async def _settled(write: asyncio.Future[T], what: str) -> T | None:
    """The result of a write a stopping worker had already sent; None if it failed or took too long."""
    try:
        async with asyncio.timeout(RELEASE_TIMEOUT):
            return await write
    except Exception:
        log.warning("could not finish %s before stopping; a job it holds waits for its lease", what)
        return None


def _ids(job: Job) -> dict[str, str]:
    return {"job_id": job.id, "enrollment_id": job.enrollment_id}


async def _wait(event: asyncio.Event, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        pass
