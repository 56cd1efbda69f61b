"""The job worker pool: N asyncio tasks that claim jobs with a lease and POST them out.

A worker claims up to `batch` ready jobs in one write and runs them at once. An outcome is
written at most FINISH_LINGER after it is known, with the worker's other outcomes known by
then (at once when none is still running), so a batch whose calls end together costs the store
two writes in all, a claim and its outcomes, whatever its size. Each write is a round trip and a
commit (and a record in the retryable-write log) per command, not per job.

Idle workers cost nothing: they wait on their own event. One scheduler task per pool asks
the database when the next job is due (a retry's `nextRunAt` or an expiring lease) and
sleeps until then, capped by `job_poll_seconds` so jobs written by other instances are
seen; a local enqueue or retry wakes the workers at once. An idle pool therefore makes
two small queries per `job_poll_seconds`, whatever its size (and, after jobs succeeded, one
write of their count), and a pool whose workers are all busy makes none. Workers take turns
to claim: concurrent claims would all race for the same oldest jobs.

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
# How long a known outcome waits for those of the worker's other jobs, to share their write.
FINISH_LINGER = 0.05
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
    batch: int  # jobs one worker claims and runs at once


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
                # One claim at a time per pool: concurrent claims race for the same oldest jobs, and
                # each loser's write conflicts and runs its query again.
                async with self._claiming:
                    jobs = await self._claim(worker_id)
            except Exception:
                log.exception("claiming jobs failed")
                await _wait(wakeup, self._config.poll_seconds)
                continue
            if not jobs:
                await self._idle(wakeup)
                continue
            try:
                await self._run(jobs)
            except Exception:
                # Their leases run out and other attempts follow; nothing is lost.
                log.exception("recording the outcomes of jobs %s failed", ", ".join(job.id for job in jobs))

    async def _idle(self, wakeup: asyncio.Event) -> None:
        self._idle_workers += 1
        self._someone_idle.set()
        try:
            await wakeup.wait()
        finally:
            self._idle_workers -= 1
            if not self._idle_workers:
                self._someone_idle.clear()

    async def _claim(self, worker_id: str) -> list[Job]:
        now = self._changes.clock.now()
        claim = self._queue.claim_jobs(worker_id, self._config.lease_seconds, now, self._config.batch)
        claiming = asyncio.create_task(claim, name=f"{worker_id} claim")  # named: not a request's
        try:
            return await asyncio.shield(claiming)
        except asyncio.CancelledError:
            # Stopped mid-claim: the database may have handed this worker jobs already. Unheard
            # of, they would stay RUNNING until their lease ran out; given back, another instance
            # takes them at once.
            for job in await _settled(claiming, "claiming jobs") or []:
                await self._give_back(job)
            raise

    async def _run(self, jobs: list[Job]) -> None:
        """Runs the claimed jobs at once and records each outcome as it comes (`_outcomes`)."""
        running = {asyncio.create_task(self._decide(job), name=f"job {job.id}"): job for job in jobs}
        try:
            while running:
                await self._record(await _outcomes(running))
        finally:
            # Stopped, or an outcome could not be written: the calls still out are given back.
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            for job in running.values():
                await self._give_back(job)

    async def _record(self, outcomes: list[tuple[Job, Decision]]) -> None:
        if not outcomes:
            return
        finish = self._queue.finish_jobs(outcomes, self._changes.clock.now())
        finishing = asyncio.create_task(finish, name=f"finish {len(outcomes)} jobs")
        try:
            written = await asyncio.shield(finishing)
        except asyncio.CancelledError:
            # Stopped while recording the outcomes: see them recorded, or the jobs stay RUNNING
            # until their lease runs out and the calls are sent again.
            settled = await _settled(finishing, "recording job outcomes")
            for (job, decision), done in zip(outcomes, settled or [], strict=False):
                if done is not None:
                    self._count(job.kind, decision.verdict.value.lower())
            raise
        for (job, decision), done in zip(outcomes, written, strict=True):
            if done is None:
                self._count(job.kind, "lease_lost")
                log.warning("lost the lease on job %s before finishing it", job.id, extra=_ids(job))
                continue
            self._count(job.kind, decision.verdict.value.lower())
            if decision.verdict is Verdict.RETRY:
                self._reschedule.set()
            elif decision.verdict is Verdict.DEAD:
                log.error("job %s is DEAD: %s", job.id, decision.error, extra=_ids(job))
            try:
                await mirror_access(self._changes, done)
            except Exception:
                # Left marked for the sweep (`resync_access`), which mirrors it again.
                log.exception("could not mirror job %s onto its enrollment", job.id, extra=_ids(job))

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


async def _outcomes(running: dict[asyncio.Task[Decision], Job]) -> list[tuple[Job, Decision]]:
    """The next outcomes of the running jobs: the first to be known and those known within
    FINISH_LINGER of it, taken out of `running`. A job whose handler raised has none: its lease
    runs out and another attempt follows."""
    done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
    if len(done) < len(running):
        more, _ = await asyncio.wait(running.keys() - done, timeout=FINISH_LINGER)
        done |= more
    outcomes: list[tuple[Job, Decision]] = []
    for task in done:
        job = running.pop(task)
        if task.cancelled():  # by its handler, not by a stop (that cancels the worker, not here)
            log.error("job %s was cancelled by its handler", job.id, extra=_ids(job))
        elif (error := task.exception()) is not None:
            log.error("job %s failed unexpectedly", job.id, exc_info=error, extra=_ids(job))
        else:
            outcomes.append((job, task.result()))
    return outcomes


def _ids(job: Job) -> dict[str, str]:
    return {"job_id": job.id, "enrollment_id": job.enrollment_id}


async def _wait(event: asyncio.Event, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        pass
