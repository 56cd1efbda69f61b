"""An approval whose process died right after its write: the sweep finishes the follow-up work."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from domain.changes import PENDING_GRACE, resume_pending
from domain.enrollment import Action, Effect, EnrollmentStatus
from domain.jobs import APPROVAL_KINDS, JobKind, job_id
from domain.ports import TransitionExtras
from tests.store.conftest import ManualClock, StoreEnv, unique
from tests.store.test_enrollment_store import draft


async def test_an_approval_cut_off_before_its_jobs_gets_them_from_the_sweep(store: StoreEnv) -> None:
    # `updatedAt` is the database's clock: the test's clock starts from real time to compare with it.
    clock = ManualClock(datetime.now(UTC))
    services = dataclasses.replace(store.services, clock=clock)
    created = await services.enrollments.insert(
        draft(services, EnrollmentStatus.AWAITING_APPROVAL, unique("u"), "c1")
    )
    assert created is not None
    # The approving write alone, as if the process died before `record_change` ran.
    approved = await services.enrollments.apply_transition(
        created.id, Action.APPROVE, TransitionExtras(approved_by="admin-1"), now=clock.now()
    )
    assert approved is not None and approved.pending == {Effect.JOBS, Effect.AUDIT}
    provision = job_id(created.id, JobKind.PROVISION_ACCESS)

    # Within the grace the request that wrote it may still be at work: left alone.
    assert await resume_pending(services.changes) == 0
    assert await services.jobs.get(provision) is None

    clock.advance(PENDING_GRACE.total_seconds() + 1)
    assert await resume_pending(services.changes) == 1
    for kind in APPROVAL_KINDS:
        assert await services.jobs.get(job_id(created.id, kind)) is not None
    settled = await services.enrollments.get(created.id)
    assert settled is not None and settled.pending == frozenset()
    assert await resume_pending(services.changes) == 0
