"""Retention of finished jobs on the real store: the TTL index declared (and changed in place),
`finishedAt` set by a success only, DEAD jobs kept, the SUCCEEDED count kept in hourly counters,
and the store's own TTL monitor deleting what the index says (SecantusDB sweeps TTL indexes about
once a minute, as MongoDB does)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

from domain.actors import Actor, ActorKind
from domain.audit import AuditEntry
from domain.enrollment import EnrollmentStatus
from domain.jobs import Decision, JobStatus, Verdict
from store.indexes import ensure_indexes
from store.job_retention import COUNTS_COLLECTION, RETENTION_INDEX, SucceededCounts
from store.jobs import MongoJobQueue
from tests.domain.test_card_rules import enrollment
from tests.store.conftest import StoreEnv, unique

DAY = timedelta(days=1)


def queue_of(store: StoreEnv) -> MongoJobQueue:
    jobs = store.services.jobs
    assert isinstance(jobs, MongoJobQueue)
    return jobs


async def test_success_sets_finished_at_and_dead_jobs_keep_none(store: StoreEnv) -> None:
    queue = queue_of(store)
    await queue.enqueue_effects([enrollment(EnrollmentStatus.APPROVED)], [], [])
    now = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)  # after nextRunAt
    first, second = await queue.claim_jobs("w", 30, now, 2)
    outcomes = [(first, Decision(Verdict.SUCCEEDED)), (second, Decision(Verdict.DEAD, error="HTTP 400"))]
    assert None not in await queue.finish_jobs(outcomes, now)
    jobs = store.collections.jobs
    succeeded = await jobs.find_one({"_id": first.id})
    dead = await jobs.find_one({"_id": second.id})
    assert succeeded is not None and dead is not None
    assert succeeded["status"] == JobStatus.SUCCEEDED and succeeded["finishedAt"].replace(tzinfo=UTC) == now
    assert dead["status"] == JobStatus.DEAD and "finishedAt" not in dead
    stats = await queue.stats(now)
    assert (stats.succeeded, stats.dead, stats.pending) == (1, 1, 0)

    # Retried by an admin, the DEAD job succeeds and is counted and timed like any other.
    later = now + timedelta(minutes=5)
    retried_by = AuditEntry(f"retryJob:{second.id}", later, Actor(ActorKind.ADMIN, "admin-1"), "retryJob")
    assert await queue.retry_dead(second.id, later, retried_by) is not None
    [again] = await queue.claim_jobs("w", 30, later, 2)
    assert again.id == second.id
    assert None not in await queue.finish_jobs([(again, Decision(Verdict.SUCCEEDED))], later)
    retried = await jobs.find_one({"_id": second.id})
    assert retried is not None and retried["finishedAt"].replace(tzinfo=UTC) == later
    assert (await queue.stats(later)).succeeded == 2


async def test_retention_index_declared_and_changed_in_place(store: StoreEnv) -> None:
    indexes = await store.collections.jobs.index_information()
    ttl = indexes[RETENTION_INDEX]
    assert ttl["key"] == [("finishedAt", 1)]
    assert ttl["expireAfterSeconds"] == 7 * 86400
    assert dict(ttl["partialFilterExpression"]) == {"status": "SUCCEEDED"}
    # ENROLLWIRE_JOB_RETENTION_DAYS changed between two starts: the index follows.
    await ensure_indexes(store.collections, 3 * DAY)
    changed = (await store.collections.jobs.index_information())[RETENTION_INDEX]
    assert changed["expireAfterSeconds"] == 3 * 86400


async def test_succeeded_count_covers_the_retention_window(store: StoreEnv) -> None:
    counts = SucceededCounts(store.collections.db["job_counts_test"], 7 * DAY)
    now = datetime(2026, 12, 6, 4, 30, tzinfo=UTC)
    counts.add(now - 8 * DAY, 5)  # its jobs are gone: not counted
    counts.add(now - 7 * DAY, 1)  # the hour being swept: counted
    counts.add(now - 6 * DAY, 2)
    await counts.write()
    counts.add(now, 3)
    counts.add(now + timedelta(minutes=10))
    # Held in memory, then written: the same totals either way.
    for _ in range(2):
        assert await counts.total(now) == 7
        assert await counts.total(now + 2 * DAY) == 4  # the hours 5 days before now and after
        await counts.write()
    # Written: another process, reading the store alone, counts the same.
    stored = SucceededCounts(store.collections.db["job_counts_test"], 7 * DAY)
    assert await stored.total(now) == 7


async def test_the_ttl_monitor_deletes_old_succeeded_jobs_only(store: StoreEnv) -> None:
    jobs = store.collections.jobs
    now = datetime.now(UTC)
    old = now - 8 * DAY
    await jobs.insert_many(
        [
            {"_id": "old-succeeded", "status": "SUCCEEDED", "finishedAt": old, "createdAt": old},
            {"_id": "new-succeeded", "status": "SUCCEEDED", "finishedAt": now, "createdAt": now},
            {"_id": "old-dead", "status": "DEAD", "createdAt": old, "updatedAt": old},
            # Not written by the product, but the index must not delete a DEAD job whatever it holds.
            {"_id": "dead-with-date", "status": "DEAD", "finishedAt": old, "createdAt": old},
        ]
    )
    async with asyncio.timeout(240):  # the monitor runs about once a minute
        while await jobs.find_one({"_id": "old-succeeded"}) is not None:  # noqa: ASYNC110
            await asyncio.sleep(1)
    left = sorted([doc["_id"] async for doc in jobs.find({}, {"_id": 1})])
    assert left == ["dead-with-date", "new-succeeded", "old-dead"]


async def test_successes_are_held_in_memory_until_the_queue_is_flushed(store: StoreEnv) -> None:
    queue = MongoJobQueue(store.collections)
    approved = dataclasses.replace(enrollment(EnrollmentStatus.APPROVED), id=unique("e"))
    await queue.enqueue_effects([approved], [], [])
    now = datetime.now(UTC) + timedelta(seconds=1)
    stored = SucceededCounts(store.collections.db[COUNTS_COLLECTION], 7 * DAY)  # the store alone
    before = await stored.total(now), (await queue.stats(now)).succeeded
    for _ in range(2):
        [job] = await queue.claim_jobs("w", 30, now, 1)
        assert None not in await queue.finish_jobs([(job, Decision(Verdict.SUCCEEDED))], now)
    assert await queue.claim_jobs("w", 30, now, 1) == []
    # Counted at once by the queue that ran them, but held in memory: not a write per job.
    assert (await stored.total(now), (await queue.stats(now)).succeeded) == (before[0], before[1] + 2)
    await queue.flush()  # what the idle pool does about once a poll, and at its stop
    assert await stored.total(now) == before[0] + 2


async def test_writes_at_once_add_each_held_count_once(store: StoreEnv) -> None:
    collection = store.collections.db[f"job_counts_{unique('t')}"]
    counts = SucceededCounts(collection, 7 * DAY)
    now = datetime(2026, 12, 6, 4, 30, tzinfo=UTC)
    counts.add(now, 3)
    counts.add(now - DAY, 2)
    # The idle pool's tick, a finishing worker and the stop may all write at the same moment.
    await asyncio.gather(*(counts.write() for _ in range(5)))
    counts.add(now)
    await asyncio.gather(*(counts.write() for _ in range(5)))
    stored = SucceededCounts(collection, 7 * DAY)
    assert await stored.total(now) == await counts.total(now) == 6
