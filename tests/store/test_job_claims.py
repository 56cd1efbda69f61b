"""Claims on the real store (`store/job_claims.py`): a job whose worker died is taken again, but
looked for at most once a second per queue rather than with every claim (LEASE_CHECK_EVERY); jobs
this process wrote are claimed without reading the queue, which is still read once a second
(READ_EVERY) for everyone else's."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.monitoring import CommandFailedEvent, CommandListener, CommandStartedEvent, CommandSucceededEvent

from domain.enrollment import Enrollment, EnrollmentStatus
from domain.jobs import JobKind, job_id
from sandbox.embedded import ManagedServer
from store.database import Collections, connect
from store.job_claims import LEASE_CHECK_EVERY, READ_EVERY
from store.job_docs import keyed, new_job
from store.jobs import MongoJobQueue
from tests.domain.test_card_rules import enrollment
from tests.store.conftest import StoreEnv, unique


async def test_an_expired_lease_is_taken_again_at_the_next_check(store: StoreEnv) -> None:
    # A queue of its own: another test's claims must not have checked the leases for it.
    queue = MongoJobQueue(store.collections)
    approved = enrollment(EnrollmentStatus.APPROVED)
    await queue.enqueue_effects([approved], [], [])
    start = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)  # after nextRunAt
    lease = LEASE_CHECK_EVERY.total_seconds() / 2

    first = await queue.claim_job("dies", lease, start)
    assert first is not None and first.enrollment_id == approved.id
    # Its lease has run out, but the last look for expired leases is under a second old: the
    # claim takes the other ready job rather than reading the expired ones again.
    soon = start + LEASE_CHECK_EVERY * 0.75
    second = await queue.claim_job("w", 30, soon)
    assert second is not None and second.id != first.id
    assert await queue.claim_job("w", 30, soon) is None
    # A second after the last look, the dead worker's job is found and claimed again.
    again = await queue.claim_job("w", 30, start + LEASE_CHECK_EVERY)
    assert again is not None and again.id == first.id and again.attempts == 2


class JobReads(CommandListener):
    """Counts the reads of the jobs collection a client sends."""

    def __init__(self) -> None:
        self.count = 0

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name == "find" and event.command.get("find") == "jobs":
            self.count += 1

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


def approved() -> Enrollment:
    return dataclasses.replace(enrollment(EnrollmentStatus.APPROVED), id=unique("e"))


@dataclasses.dataclass(frozen=True)
class Watched:
    queue: MongoJobQueue  # on a client of its own, whose reads of the jobs are counted
    reads: JobReads
    now: datetime  # when the queue was first read, and found nothing ready


@pytest.fixture
async def watched(store: StoreEnv, mongo_server: ManagedServer) -> AsyncIterator[Watched]:
    reads = JobReads()
    client = connect(mongo_server.url, event_listeners=[reads])
    try:
        queue = MongoJobQueue(Collections.of(client, store.collections.db.name))
        now = datetime.now(UTC) + timedelta(seconds=1)
        assert await queue.claim_job("w", 30, now) is None  # the first claim reads: nothing yet
        yield Watched(queue, reads, now)
    finally:
        await client.close()


async def test_jobs_written_here_are_claimed_without_reading_the_queue(
    store: StoreEnv, watched: Watched
) -> None:
    queue, reads, now = watched.queue, watched.reads, watched.now
    first, second, third = approved(), approved(), approved()
    await queue.enqueue_effects([first, second], [], [])
    reads.count = 0
    claimed = [await queue.claim_job("w", 30, now + timedelta(milliseconds=100)) for _ in range(3)]
    assert [(job.enrollment_id, job.kind) for job in claimed if job] == [
        (first.id, JobKind.PROVISION_ACCESS),
        (first.id, JobKind.NOTIFY_STUDENT),
        (second.id, JobKind.PROVISION_ACCESS),
    ]
    assert reads.count == 0  # under a second since the last read, with jobs of its own in hand

    # Another process's job is found by the read a second after the last one, though this
    # process still has a job of its own; it is claimed before jobs written after that read.
    other = keyed(unique("other"), new_job(second, JobKind.NOTIFY_ADMINS, now - timedelta(minutes=1)))
    await store.collections.jobs.insert_one(other)
    later = now + READ_EVERY
    own = await queue.claim_job("w", 30, later)
    assert reads.count > 0
    assert own is not None and (own.enrollment_id, own.kind) == (second.id, JobKind.NOTIFY_STUDENT)
    await queue.enqueue_effects([third], [], [])
    rest = [await queue.claim_job("w", 30, later) for _ in range(4)]
    assert [job and job.id for job in rest] == [
        other["_id"],
        job_id(third.id, JobKind.PROVISION_ACCESS),
        job_id(third.id, JobKind.NOTIFY_STUDENT),
        None,
    ]


async def test_a_pool_out_of_its_own_jobs_reads_the_queue_only_when_something_else_is_due(
    store: StoreEnv, watched: Watched
) -> None:
    queue, reads, now = watched.queue, watched.reads, watched.now
    mine = approved()
    await queue.enqueue_effects([mine], [], [])
    soon = now + timedelta(milliseconds=100)
    reads.count = 0
    claimed = [await queue.claim_job("w", 30, soon) for _ in range(3)]
    assert [job and job.enrollment_id for job in claimed] == [mine.id, mine.id, None]
    assert reads.count == 0  # its own jobs done: idle without reading the queue

    # Another process's job: the scheduler's look at when the next job is due sees it due, and
    # the claim that follows reads the queue and takes it.
    other = keyed(unique("other"), new_job(mine, JobKind.NOTIFY_ADMINS, now - timedelta(minutes=1)))
    await store.collections.jobs.insert_one(other)
    assert await queue.claim_job("w", 30, soon) is None and reads.count == 0
    due = await queue.next_due(soon)
    assert due is not None and due <= soon
    reads.count = 0
    taken = await queue.claim_job("w", 30, soon)
    assert taken is not None and taken.id == other["_id"] and reads.count == 1
