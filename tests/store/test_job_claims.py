"""Claims on the real store (`store/job_claims.py`): a job whose worker died is taken again, but
looked for at most once a second per queue rather than with every claim (LEASE_CHECK_EVERY); jobs
this process wrote are claimed without reading the queue, which is still read once a second
(READ_EVERY) for everyone else's."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from domain.enrollment import Enrollment, EnrollmentStatus
from domain.jobs import Decision, JobKind, JobStatus, Verdict, job_id
from sandbox.embedded import ManagedServer
from store.database import Collections, connect
from store.job_claims import LEASE_CHECK_EVERY, READ_EVERY
from store.job_docs import keyed, new_job
from store.jobs import MongoJobQueue
from tests.commands import CommandLog
from tests.domain.test_card_rules import enrollment
from tests.store.conftest import StoreEnv, unique


async def test_an_expired_lease_is_taken_again_at_the_next_check(store: StoreEnv) -> None:
    # A queue of its own: another test's claims must not have checked the leases for it.
    queue = MongoJobQueue(store.collections)
    approved = enrollment(EnrollmentStatus.APPROVED)
    await queue.enqueue_effects([approved], [], [])
    start = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)  # after nextRunAt
    lease = LEASE_CHECK_EVERY.total_seconds() / 2

    [first] = await queue.claim_jobs("dies", lease, start, 1)
    assert first.enrollment_id == approved.id
    # Its lease has run out, but the last look for expired leases is under a second old: the
    # claim takes the other ready job rather than reading the expired ones again.
    soon = start + LEASE_CHECK_EVERY * 0.75
    [second] = await queue.claim_jobs("w", 30, soon, 2)
    assert second.id != first.id
    assert await queue.claim_jobs("w", 30, soon, 2) == []
    # A second after the last look, the dead worker's job is found and claimed again.
    [again] = await queue.claim_jobs("w", 30, start + LEASE_CHECK_EVERY, 2)
    assert again.id == first.id and again.attempts == 2


def approved() -> Enrollment:
    return dataclasses.replace(enrollment(EnrollmentStatus.APPROVED), id=unique("e"))


@dataclasses.dataclass(frozen=True)
class Watched:
    queue: MongoJobQueue  # on a client of its own, whose reads of the jobs are counted
    commands: CommandLog
    now: datetime  # when the queue was first read, and found nothing ready


@pytest.fixture
async def watched(store: StoreEnv, mongo_server: ManagedServer) -> AsyncIterator[Watched]:
    commands = CommandLog()
    client = connect(mongo_server.url, event_listeners=[commands])
    try:
        queue = MongoJobQueue(Collections.of(client, store.collections.db.name))
        now = datetime.now(UTC) + timedelta(seconds=1)
        assert await queue.claim_jobs("w", 30, now, 1) == []  # the first claim reads: nothing yet
        yield Watched(queue, commands, now)
    finally:
        await client.close()


async def test_jobs_written_here_are_claimed_without_reading_the_queue(
    store: StoreEnv, watched: Watched
) -> None:
    queue, commands, now = watched.queue, watched.commands, watched.now
    first, second, third = approved(), approved(), approved()
    await queue.enqueue_effects([first, second], [], [])
    commands.clear()
    claimed = await queue.claim_jobs("w", 30, now + timedelta(milliseconds=100), 3)
    assert [(job.enrollment_id, job.kind) for job in claimed] == [
        (first.id, JobKind.PROVISION_ACCESS),
        (first.id, JobKind.NOTIFY_STUDENT),
        (second.id, JobKind.PROVISION_ACCESS),
    ]
    # Under a second since the last read, with jobs of its own in hand: no read; three claims, one
    # command.
    assert _writes_and_reads(commands) == (1, 0)

    # Another process's job is found by the read a second after the last one, though this
    # process still has a job of its own; it is claimed before jobs written after that read.
    other = keyed(unique("other"), new_job(second, JobKind.NOTIFY_ADMINS, now - timedelta(minutes=1)))
    await store.collections.jobs.insert_one(other)
    later = now + READ_EVERY
    [own] = await queue.claim_jobs("w", 30, later, 1)
    assert len(commands.of("find", "jobs")) > 0
    assert (own.enrollment_id, own.kind) == (second.id, JobKind.NOTIFY_STUDENT)
    await queue.enqueue_effects([third], [], [])
    rest = await queue.claim_jobs("w", 30, later, 4)
    assert [job.id for job in rest] == [
        other["_id"],
        job_id(third.id, JobKind.PROVISION_ACCESS),
        job_id(third.id, JobKind.NOTIFY_STUDENT),
    ]
    assert await queue.claim_jobs("w", 30, later, 4) == []


async def test_a_pool_out_of_its_own_jobs_reads_the_queue_only_when_something_else_is_due(
    store: StoreEnv, watched: Watched
) -> None:
    queue, commands, now = watched.queue, watched.commands, watched.now
    mine = approved()
    await queue.enqueue_effects([mine], [], [])
    soon = now + timedelta(milliseconds=100)
    commands.clear()
    claimed = [await queue.claim_jobs("w", 30, soon, 1) for _ in range(3)]
    assert [[job.enrollment_id for job in jobs] for jobs in claimed] == [[mine.id], [mine.id], []]
    assert len(commands.of("find", "jobs")) == 0  # its own jobs done: idle without reading the queue

    # Another process's job: the scheduler's look at when the next job is due sees it due, and
    # the claim that follows reads the queue and takes it.
    other = keyed(unique("other"), new_job(mine, JobKind.NOTIFY_ADMINS, now - timedelta(minutes=1)))
    await store.collections.jobs.insert_one(other)
    assert await queue.claim_jobs("w", 30, soon, 1) == [] and len(commands.of("find", "jobs")) == 0
    due = await queue.next_due(soon)
    assert due is not None and due <= soon
    commands.clear()
    [taken] = await queue.claim_jobs("w", 30, soon, 1)
    assert taken.id == other["_id"] and len(commands.of("find", "jobs")) == 1


async def test_a_batch_claims_the_jobs_as_known_and_leaves_one_taken_meanwhile(
    store: StoreEnv, watched: Watched
) -> None:
    queue, commands, now = watched.queue, watched.commands, watched.now
    first, second = approved(), approved()
    await queue.enqueue_effects([first, second], [], [])
    # Another process claims one of them before this queue does: its candidate is stale.
    taken = job_id(first.id, JobKind.NOTIFY_STUDENT)
    await store.collections.jobs.update_one(
        {"_id": taken}, {"$set": {"status": "RUNNING", "leaseOwner": "other"}, "$inc": {"revision": 1}}
    )
    commands.clear()
    claimed = await queue.claim_jobs("w", 30, now + timedelta(milliseconds=100), 4)
    assert [job.id for job in claimed] == [
        job_id(first.id, JobKind.PROVISION_ACCESS),
        job_id(second.id, JobKind.PROVISION_ACCESS),
        job_id(second.id, JobKind.NOTIFY_STUDENT),
    ]
    # One write for the batch; its count fell short, so one read said which claims matched.
    assert _writes_and_reads(commands) == (1, 1)
    for job in claimed:
        doc = await store.collections.jobs.find_one({"_id": job.id})
        assert doc is not None
        assert (doc["leaseOwner"], doc["revision"], doc["attempts"]) == ("w", job.revision, job.attempts)
    other = await store.collections.jobs.find_one({"_id": taken})
    assert other is not None and (other["leaseOwner"], other["attempts"]) == ("other", 0)


async def test_outcomes_go_in_one_write_and_a_lost_lease_is_told_apart(
    store: StoreEnv, watched: Watched
) -> None:
    queue, commands, now = watched.queue, watched.commands, watched.now
    await queue.enqueue_effects([approved()], [], [])
    soon = now + timedelta(milliseconds=100)
    provision, notify = await queue.claim_jobs("w", 1, soon, 2)
    # The lease on one ran out and another worker took the job over.
    await store.collections.jobs.update_one(
        {"_id": notify.id}, {"$set": {"leaseOwner": "other"}, "$inc": {"attempts": 1, "revision": 1}}
    )
    commands.clear()
    provisioned = Decision(Verdict.SUCCEEDED, result={"accountId": "a-1"})
    outcomes = [(provision, provisioned), (notify, Decision(Verdict.SUCCEEDED))]
    done, lost = await queue.finish_jobs(outcomes, soon)
    assert lost is None
    assert done is not None and (done.status, done.result) == (JobStatus.SUCCEEDED, {"accountId": "a-1"})
    assert _writes_and_reads(commands) == (1, 1)
    written = await store.collections.jobs.find_one({"_id": provision.id})
    assert written is not None and (written["status"], written["revision"]) == ("SUCCEEDED", done.revision)
    other = await store.collections.jobs.find_one({"_id": notify.id})
    assert other is not None and (other["status"], other["leaseOwner"]) == ("RUNNING", "other")


def _writes_and_reads(commands: CommandLog) -> tuple[int, int]:
    return len(commands.of("update", "jobs")), len(commands.of("find", "jobs"))
