"""An audit entry exists if and only if its change does, even across a crash between the writes."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

from domain.actors import Actor, ActorKind, Cause, audit_id
from domain.admin_log import AdminLog
from domain.changes import PENDING_GRACE, resume_pending
from domain.coupon import validate_new_coupon
from domain.course import Course
from domain.enrollment import Action, Effect, EnrollmentStatus
from domain.jobs import JobKind
from domain.jobs import job_id as job_id_of
from domain.money import Money
from domain.ports import TransitionExtras
from domain.viewer import Role, Viewer
from tests.store.conftest import ManualClock, StoreEnv, unique
from tests.store.test_enrollment_store import draft

ADMIN = Cause(Actor(ActorKind.ADMIN, "admin-1"), "approveEnrollment")


async def _entries(store: StoreEnv, enrollment_id: str) -> list[str]:
    cursor = store.collections.audit.find({"enrollmentId": enrollment_id}).sort("_id", 1)
    return [doc["_id"] async for doc in cursor]


async def test_a_change_cut_off_before_its_entry_gets_it_from_the_sweep_once(store: StoreEnv) -> None:
    clock = ManualClock(datetime.now(UTC))
    services = dataclasses.replace(store.services, clock=clock)
    created = await services.enrollments.insert(
        draft(services, EnrollmentStatus.AWAITING_APPROVAL, unique("u"), "c1")
    )
    assert created is not None
    # The approving write alone, as if the process died before its follow-up work ran.
    extras = TransitionExtras(approved_by="admin-1", cause=ADMIN)
    approved = await services.enrollments.apply_transition(
        created.id, Action.APPROVE, extras, now=clock.now()
    )
    assert approved is not None and Effect.AUDIT in approved.pending
    assert [c.action for c in approved.history] == ["enroll", "approveEnrollment"]
    assert await _entries(store, created.id) == []

    clock.advance(PENDING_GRACE.total_seconds() + 1)
    assert await resume_pending(services.changes) == 1
    expected = sorted([audit_id(created.id, created.version), audit_id(created.id, approved.version)])
    assert await _entries(store, created.id) == expected
    # Copying again, from any number of writers at once, inserts nothing more.
    await asyncio.gather(*(services.audit.materialise([approved]) for _ in range(10)))
    assert await _entries(store, created.id) == expected
    settled = await services.enrollments.get(created.id)
    assert settled is not None and Effect.AUDIT not in settled.pending
    entry = await store.collections.audit.find_one({"_id": audit_id(created.id, approved.version)})
    assert entry is not None and entry["actor"] == {"kind": "ADMIN", "id": "admin-1"}


async def test_a_settled_change_is_not_copied_again_by_the_next(store: StoreEnv) -> None:
    services = store.services
    new = dataclasses.replace(
        draft(services, EnrollmentStatus.AWAITING_APPROVAL, unique("u"), "c1"),
        pending=frozenset({Effect.AUDIT}),
    )
    created = await services.enrollments.insert(new)
    assert created is not None and created.unaudited() == created.history
    await services.changes.settle(created)
    extras = TransitionExtras(cause=ADMIN)
    approved = await services.enrollments.apply_transition(
        created.id, Action.APPROVE, extras, now=store.clock.now()
    )
    assert approved is not None and approved.audited_version == created.version
    # Only the approval is left to copy: the creation's entry (and notice) were settled with it.
    assert [change.version for change in approved.unaudited()] == [approved.version]
    await services.changes.settle(approved)
    settled = await services.enrollments.get(created.id)
    assert settled is not None and settled.audited_version == approved.version
    assert settled.unaudited() == () and not settled.pending
    assert await _entries(store, created.id) == sorted(
        audit_id(created.id, v) for v in (created.version, approved.version)
    )


async def test_concurrent_changes_settled_together_each_get_their_follow_up_once(store: StoreEnv) -> None:
    services = store.services
    created = []
    for _ in range(30):
        new = draft(services, EnrollmentStatus.AWAITING_APPROVAL, unique("u"), "c1")
        enrollment = await services.enrollments.insert(
            dataclasses.replace(new, pending=frozenset({Effect.AUDIT}))
        )
        assert enrollment is not None
        created.append(enrollment)
    await asyncio.gather(*(services.changes.settle(e) for e in created))

    async def approve(enrollment_id: str) -> None:
        extras = TransitionExtras(cause=ADMIN)
        approved = await services.enrollments.apply_transition(
            enrollment_id, Action.APPROVE, extras, now=store.clock.now()
        )
        assert approved is not None
        await services.changes.settle(approved)

    # Thirty approvals at once: their follow-ups share batches (one insert, one jobs write, one
    # clear each), and each enrollment still gets exactly its own.
    await asyncio.gather(*(approve(e.id) for e in created))
    for e in created:
        settled = await services.enrollments.get(e.id)
        assert settled is not None and not settled.pending and settled.audited_version == settled.version
        assert await _entries(store, e.id) == sorted(audit_id(e.id, v) for v in (e.version, settled.version))
        jobs = store.collections.jobs.find({"enrollmentId": e.id, "kind": JobKind.PROVISION_ACCESS.value})
        assert len([job async for job in jobs]) == 1


async def test_a_refused_transition_records_nothing(store: StoreEnv) -> None:
    services = store.services
    created = await services.enrollments.insert(draft(services, EnrollmentStatus.REJECTED, unique("u"), "c1"))
    assert created is not None
    extras = TransitionExtras(cause=ADMIN)
    refused = await services.enrollments.apply_transition(
        created.id, Action.APPROVE, extras, now=store.clock.now()
    )
    assert refused is None
    after = await services.enrollments.get(created.id)
    assert after is not None and len(after.history) == 1 and after.version == created.version


async def test_a_later_change_keeps_the_outbox_entry_for_its_own_copy(store: StoreEnv) -> None:
    services = store.services
    created = await services.enrollments.insert(
        draft(services, EnrollmentStatus.AWAITING_APPROVAL, unique("u"), "c1")
    )
    assert created is not None
    # The first writer copies from its snapshot after a second change landed: the outbox entry stays.
    await services.audit.materialise([created])
    extras = TransitionExtras(cause=ADMIN)
    approved = await services.enrollments.apply_transition(
        created.id, Action.APPROVE, extras, now=store.clock.now()
    )
    assert approved is not None
    await services.enrollments.clear_pending(
        [dataclasses.replace(created, pending=frozenset({Effect.AUDIT}))]
    )
    current = await services.enrollments.get(created.id)
    assert current is not None and Effect.AUDIT in current.pending


async def test_course_coupon_and_job_changes_cut_off_before_their_entries_get_them_once(
    store: StoreEnv,
) -> None:
    clock = ManualClock(datetime.now(UTC))
    services = dataclasses.replace(store.services, clock=clock)
    admin = Viewer("admin-2", Role.ADMIN)
    log = AdminLog(services.audit, clock, admin)
    course = Course(unique("course"), "T", Money(100, "ZAR"), True)
    coupon = validate_new_coupon(unique("C").upper().replace("-", ""), 10, None, 3, None, "ZAR")
    # The changes alone, each with its entry in its own write, as if the process died right after.
    assert await services.courses.insert_course(course, log.entry("createCourse", course.id, None))
    assert await services.coupons.insert_coupon(coupon, log.entry("createCoupon", coupon.code, None))
    enrollment = await services.enrollments.insert(
        draft(services, EnrollmentStatus.APPROVED, unique("u"), "c1")
    )
    assert enrollment is not None
    await services.jobs.enqueue_effects([enrollment], [], [])
    job_id = job_id_of(enrollment.id, JobKind.NOTIFY_STUDENT)
    await store.collections.jobs.update_one({"_id": job_id}, {"$set": {"status": "DEAD"}})
    retried = await services.jobs.retry_dead(job_id, clock.now(), log.entry("retryJob", job_id, None))
    assert retried is not None
    # A refused change (the course exists, the job is no longer DEAD) carries no entry anywhere.
    assert not await services.courses.insert_course(course, log.entry("createCourse", course.id, None))
    assert await services.jobs.retry_dead(job_id, clock.now(), log.entry("retryJob", job_id, None)) is None
    targets = [course.id, coupon.code, job_id]
    assert await store.collections.audit.count_documents({"targetId": {"$in": targets}}) == 0

    clock.advance(PENDING_GRACE.total_seconds() + 1)
    await resume_pending(services.changes)
    await asyncio.gather(*(resume_pending(services.changes) for _ in range(5)))
    entries = [doc async for doc in store.collections.audit.find({"targetId": {"$in": targets}})]
    assert sorted((e["action"], e["targetId"]) for e in entries) == sorted(
        [("createCourse", course.id), ("createCoupon", coupon.code), ("retryJob", job_id)]
    )
    assert {e["actor"]["id"] for e in entries} == {"admin-2"}
    for collection, doc_id in (
        (store.collections.courses, course.id),
        (store.collections.coupons, coupon.code),
        (store.collections.jobs, job_id),
    ):
        doc = await collection.find_one({"_id": doc_id})
        assert doc is not None and doc["auditOutbox"] == []


async def test_a_change_cut_off_before_its_notice_still_tells_the_student_once(store: StoreEnv) -> None:
    clock = ManualClock(datetime.now(UTC))
    services = dataclasses.replace(store.services, clock=clock)
    created = await services.enrollments.insert(
        draft(services, EnrollmentStatus.AWAITING_APPROVAL, unique("u"), "c1")
    )
    assert created is not None
    # The rejecting write alone, as if the process died before telling anyone.
    cause = Cause(Actor(ActorKind.ADMIN, "admin-1"), "rejectEnrollment", "no seats")
    extras = TransitionExtras(rejection_reason="no seats", cause=cause)
    rejected = await services.enrollments.apply_transition(created.id, Action.REJECT, extras, now=clock.now())
    assert rejected is not None
    jobs = store.collections.jobs
    told = {"enrollmentId": created.id, "template": "rejected"}
    assert await jobs.count_documents(told) == 0

    clock.advance(PENDING_GRACE.total_seconds() + 1)
    await asyncio.gather(*(resume_pending(services.changes) for _ in range(3)))
    [notice] = [doc async for doc in jobs.find(told)]
    assert (notice["kind"], notice["data"]["reason"]) == ("NOTIFY_STUDENT", "no seats")
    assert notice["_id"].endswith(f":rejected:{rejected.version}")
