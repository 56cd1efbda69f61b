"""Writing jobs on the real store: each is inserted under its key, so writing one again (the same
change settled twice, a sweep after a crash) leaves it as it has got to, while new jobs in the
same batch are written; and the job indexes startup keeps and drops."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from domain.enrollment import Enrollment, EnrollmentStatus
from domain.jobs import Decision, JobKind, JobStatus, Verdict, job_id
from domain.notifications import Notice, Template
from store.indexes import ensure_indexes
from store.jobs import JOB_INDEXES, RETIRED_JOB_INDEXES, MongoJobQueue
from tests.domain.test_card_rules import enrollment
from tests.store.conftest import StoreEnv, unique


def approved() -> Enrollment:
    return dataclasses.replace(enrollment(EnrollmentStatus.APPROVED), id=unique("e"))


async def test_a_job_written_again_is_left_as_it_got_to_and_new_ones_are_written(store: StoreEnv) -> None:
    queue = MongoJobQueue(store.collections)
    woken: list[bool] = []
    queue.on_enqueue(woken.append)
    first = approved()
    await queue.enqueue_effects([first], [], [])
    assert woken == [False]
    provision = job_id(first.id, JobKind.PROVISION_ACCESS)
    now = datetime.now(UTC) + timedelta(seconds=1)
    [claimed] = [job for job in await queue.claim_jobs("w", 30, now, 8) if job.id == provision]
    [done] = await queue.finish_jobs([(claimed, Decision(Verdict.SUCCEEDED))], now)
    assert done is not None and done.status is JobStatus.SUCCEEDED

    # The same approval again, beside a new one and a notice: only the new jobs are written.
    second = approved()
    notice = Notice(JobKind.NOTIFY_STUDENT, Template.ENROLLMENT_RECEIVED.value, "v1", {})
    await queue.enqueue_effects([first, second], [], [(first, notice)])
    assert woken == [False, False]
    again = await queue.get(provision)
    assert again is not None and again.status is JobStatus.SUCCEEDED and again.attempts == 1
    written = await store.collections.jobs.count_documents({"enrollmentId": {"$in": [first.id, second.id]}})
    assert written == 5  # each approval's two jobs, and the notice

    # Nothing new at all: nothing is written and the workers are not woken.
    await queue.enqueue_effects([first, second], [], [(first, notice)])
    assert woken == [False, False]
    assert await store.collections.jobs.count_documents({"enrollmentId": {"$in": [first.id, second.id]}}) == 5


async def test_startup_drops_the_retired_job_index_and_keeps_the_rest(store: StoreEnv) -> None:
    jobs = store.collections.jobs
    await jobs.create_index("enrollmentId", name=RETIRED_JOB_INDEXES[0])
    await ensure_indexes(store.collections)
    names = set(await jobs.index_information())
    assert not names & set(RETIRED_JOB_INDEXES)
    assert {index.document["name"] for index in JOB_INDEXES} <= names
    await ensure_indexes(store.collections)  # nothing left to drop: a restart changes nothing
    assert set(await jobs.index_information()) == names
