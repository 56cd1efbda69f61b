"""Every (status, action) pair through the real store: one conditional update, or nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError

from domain.actors import Actor, ActorKind, Cause
from domain.enrollment import Action, EnrollmentStatus, PaymentMethod, next_status
from domain.money import Money
from domain.ports import NewEnrollment, TransitionExtras
from domain.services import Services
from sandbox.embedded import ManagedServer
from store.database import Collections, connect
from store.enrollments import MongoEnrollmentStore
from store.transitions import hold_not_overdue, transition_filter
from tests.commands import CommandLog
from tests.store.conftest import StoreEnv, unique

PAIRS = list(itertools.product(EnrollmentStatus, Action))


def draft(
    services: Services, status: EnrollmentStatus, user: str, course: str, version: int = 1
) -> NewEnrollment:
    price = Money(1000, "ZAR")
    return NewEnrollment(
        id=services.enrollments.new_id(),
        user_id=user,
        email=None,
        course_id=course,
        status=status,
        payment_method=PaymentMethod.EFT,
        full_price=price,
        amount_due=price,
        coupon_code=None,
        coupon_discount=0,
        hold_expires_at=None,
        payment_reference=unique("pay"),
        version=version,
        pending=frozenset(),
        cause=Cause(Actor(ActorKind.STUDENT, user), "enroll"),
        at=datetime.now(UTC),
    )


async def raw(env: StoreEnv, enrollment_id: str) -> dict[str, Any]:
    doc = await env.collections.enrollments.find_one({"_id": enrollment_id})
    assert doc is not None
    return doc


async def test_every_pair_changes_exactly_when_allowed(store: StoreEnv) -> None:
    services = store.services
    extras = TransitionExtras(approved_by="admin-1", rejection_reason="no seats", new_reference=None)
    for status, action in PAIRS:
        created = await services.enrollments.insert(draft(services, status, unique("u"), "c1"))
        assert created is not None
        before = await raw(store, created.id)
        changed = await services.enrollments.apply_transition(
            created.id, action, extras, now=store.clock.now()
        )
        after = await raw(store, created.id)
        target = next_status(status, action)
        label = f"{status} x {action}"
        if target is None:
            assert changed is None, label
            assert after == before, label
            continue
        assert changed is not None, label
        assert changed.status is target, label
        assert changed.previous_status is status, label
        assert changed.version == after["version"] == before["version"] + 1, label
        assert after["status"] == target.value, label
        assert after["updatedAt"] >= before["updatedAt"], label


async def test_refused_transition_on_unknown_id(services: Services, store: StoreEnv) -> None:
    missing = services.enrollments.new_id()
    assert (
        await services.enrollments.apply_transition(
            missing, Action.APPROVE, TransitionExtras(), now=store.clock.now()
        )
        is None
    )
    assert await store.collections.enrollments.count_documents({}) == 0


async def test_approval_and_rejection_record_who_and_why(services: Services, store: StoreEnv) -> None:
    first = await services.enrollments.insert(draft(services, EnrollmentStatus.AWAITING_APPROVAL, "u1", "c1"))
    second = await services.enrollments.insert(
        draft(services, EnrollmentStatus.AWAITING_APPROVAL, "u2", "c1")
    )
    assert first is not None and second is not None
    now = store.clock.now()
    approved = await services.enrollments.apply_transition(
        first.id, Action.APPROVE, TransitionExtras(approved_by="boss"), now=now
    )
    assert approved is not None and approved.approved_by == "boss"
    # A reason that looks like an operator is stored as text, not evaluated.
    rejected = await services.enrollments.apply_transition(
        second.id, Action.REJECT, TransitionExtras(rejection_reason="$status"), now=now
    )
    assert rejected is not None and rejected.rejection_reason == "$status"


async def test_retry_adds_a_reference_and_keeps_the_old_ones(services: Services, store: StoreEnv) -> None:
    failed = await services.enrollments.insert(draft(services, EnrollmentStatus.PAYMENT_FAILED, "u1", "c1"))
    assert failed is not None and failed.payment_reference is not None
    retried = await services.enrollments.apply_transition(
        failed.id, Action.RETRY_PAYMENT, TransitionExtras(new_reference="pay_new"), now=store.clock.now()
    )
    assert retried is not None and retried.payment_reference == "pay_new"
    assert (await raw(store, failed.id))["paymentReferences"] == [failed.payment_reference, "pay_new"]


@pytest.mark.parametrize("active", [EnrollmentStatus.PENDING_PAYMENT, EnrollmentStatus.APPROVED])
async def test_one_active_enrollment_per_user_and_course(
    services: Services, active: EnrollmentStatus
) -> None:
    assert await services.enrollments.insert(draft(services, active, "u1", "c1")) is not None
    assert (
        await services.enrollments.insert(draft(services, EnrollmentStatus.AWAITING_APPROVAL, "u1", "c1"))
        is None
    )
    # Other users and other courses are unaffected.
    assert await services.enrollments.insert(draft(services, active, "u2", "c1")) is not None
    assert await services.enrollments.insert(draft(services, active, "u1", "c2")) is not None


async def test_ended_enrollments_do_not_block_and_versions_climb(services: Services) -> None:
    old = await services.enrollments.insert(draft(services, EnrollmentStatus.REJECTED, "u1", "c1", version=4))
    assert old is not None
    assert [e.version for e in (await services.enrollments.current_for("u1", ["c1"])).values()] == [4]
    assert await services.enrollments.current_for("u1", ["other"]) == {}
    again = await services.enrollments.insert(
        draft(services, EnrollmentStatus.AWAITING_APPROVAL, "u1", "c1", 5)
    )
    assert again is not None
    assert await services.enrollments.active_for("u1", "c1") == again


def test_only_a_transition_a_lapse_could_refuse_carries_the_lapse_guard() -> None:
    now = datetime.now(UTC)
    # An admin approves from AWAITING_APPROVAL, where no hold lapses: the guard could never refuse.
    assert "holdExpiresAt" not in transition_filter("e1", Action.APPROVE, now)
    # A settled payment starts where holds lapse: an overdue hold must be lapsed first.
    guard = transition_filter("e1", Action.SETTLE_PAYMENT, now)["holdExpiresAt"]
    assert guard == hold_not_overdue(now)["holdExpiresAt"]


async def test_inserts_at_once_share_one_write_and_only_the_second_of_a_pair_is_refused(
    store: StoreEnv, mongo_server: ManagedServer
) -> None:
    commands = CommandLog()
    client = connect(mongo_server.url, event_listeners=[commands])
    try:
        enrollments = MongoEnrollmentStore(Collections.of(client, store.collections.db.name))
        services, status = store.services, EnrollmentStatus.AWAITING_APPROVAL
        twice = unique("u")
        drafts = [draft(services, status, unique("u"), "c1") for _ in range(5)]
        drafts += [draft(services, status, twice, "c2"), draft(services, status, twice, "c2")]
        created = await asyncio.gather(*(enrollments.insert(new) for new in drafts))
    finally:
        await client.close()
    # One command for the requests that came at once, and one read to tell the refused one apart
    # from an earlier try of its own insert.
    assert [len(insert["documents"]) for insert in commands.of("insert", "enrollments")] == [7]
    assert len(commands.of("find", "enrollments")) == 1
    assert [enrollment is not None for enrollment in created] == [True] * 6 + [False]
    written = store.collections.enrollments.find({"_id": {"$in": [new.id for new in drafts]}})
    assert {doc["_id"] async for doc in written} == {new.id for new in drafts[:6]}


async def test_an_insert_tried_again_finds_its_own_document_and_a_clash_of_references_raises(
    store: StoreEnv,
) -> None:
    services, status = store.services, EnrollmentStatus.AWAITING_APPROVAL
    first = draft(services, status, unique("u"), "c1")
    assert await services.enrollments.insert(first) is not None
    # Written already, by its own id (a batch that failed as a whole is written one by one).
    again = await services.enrollments.insert(first)
    assert again is not None and again.id == first.id
    # Not the one-active index: not "already enrolled", and nothing is written.
    clash = draft(services, status, unique("u"), "c1")
    clash = dataclasses.replace(clash, payment_reference=first.payment_reference)
    with pytest.raises(DuplicateKeyError):
        await services.enrollments.insert(clash)
    assert await services.enrollments.get(clash.id) is None
