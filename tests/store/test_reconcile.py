"""Reconciliation of a checkout that never got created: the process stopped between writing the
enrollment (and its RECONCILE_PAYMENT job) and calling the gateway. The job still expires it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from domain.checkouts import CHECKOUT_EXPIRED, reconcile
from domain.enrollment import EnrollmentStatus, PaymentMethod
from domain.jobs import JobKind, Verdict
from tests.store.conftest import ManualClock, StoreEnv, unique
from tests.store.test_enrollment_store import draft


async def test_an_enrollment_whose_checkout_never_opened_still_expires(store: StoreEnv) -> None:
    # The job's createdAt is the real clock's: the test's clock starts there and moves on.
    clock = ManualClock(datetime.now(UTC))
    services = dataclasses.replace(store.services, clock=clock)
    changes, desk = services.changes, services.desk
    pending = dataclasses.replace(
        draft(services, EnrollmentStatus.PENDING_PAYMENT, unique("u"), "c1"),
        payment_method=PaymentMethod.CARD,
    )
    created = await services.enrollments.insert(pending)
    assert created is not None and created.payment_reference is not None
    await services.jobs.enqueue_reconcile(created, created.payment_reference, clock.now())
    [doc] = await store.collections.jobs.find({"enrollmentId": created.id}).to_list()
    job = await services.jobs.get(doc["_id"])
    assert job is not None and job.kind is JobKind.RECONCILE_PAYMENT

    # Before the TTL: no checkout to ask about, so it waits (never past the TTL).
    waiting = await reconcile(desk, changes, job)
    assert waiting.verdict is Verdict.RETRY
    assert 0 < waiting.delay <= desk.ttl.total_seconds()
    assert (await services.enrollments.get(created.id)).status is EnrollmentStatus.PENDING_PAYMENT  # type: ignore[union-attr]

    clock.advance(desk.ttl.total_seconds() + 1)
    assert (await reconcile(desk, changes, job)).verdict is Verdict.SUCCEEDED
    expired = await services.enrollments.get(created.id)
    assert expired is not None
    assert (expired.status, expired.failure_reason) == (EnrollmentStatus.PAYMENT_FAILED, CHECKOUT_EXPIRED)
    # The admins hear of it once, the student is told the payment failed.
    notices = {doc["_id"] async for doc in store.collections.jobs.find({"enrollmentId": created.id})}
    assert f"{created.id}:notify_admins:checkout_expired:{created.payment_reference}" in notices
    assert f"{created.id}:notify_student:payment_failed:{expired.version}" in notices
    # Nothing left to do: another run changes nothing.
    assert (await reconcile(desk, changes, job)).verdict is Verdict.SUCCEEDED
    again = await services.enrollments.get(created.id)
    assert again is not None and again.version == expired.version
    admins = {"kind": "NOTIFY_ADMINS", "enrollmentId": created.id}
    assert await store.collections.jobs.count_documents(admins) == 1
