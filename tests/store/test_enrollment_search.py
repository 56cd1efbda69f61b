"""The admin search over a seeded population with known answers: every combination of filters
returns exactly the enrollments a plain Python predicate picks, and paging walks each row once."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from domain.actors import Actor, ActorKind, Cause
from domain.enrollment import Enrollment, EnrollmentStatus, PaymentMethod
from domain.enrollment_filter import EnrollmentFilter, enrollment_filter
from domain.money import Money
from domain.ports import NewEnrollment
from domain.services import Services
from store.indexes import ensure_indexes
from tests.store.conftest import StoreEnv, unique

EMAILS = ["Ann.Lee@Example.com", "anna@example.com", "bob@example.com", None, "ANNE@x.org"]
STATUSES = [EnrollmentStatus.AWAITING_APPROVAL, EnrollmentStatus.APPROVED, EnrollmentStatus.PENDING_PAYMENT]


def seed_draft(services: Services, n: int, courses: list[str], users: list[str]) -> NewEnrollment:
    price = Money(1000, "ZAR")
    user = users[n % len(users)]
    return NewEnrollment(
        id=services.enrollments.new_id(),
        user_id=user,
        email=EMAILS[n % len(EMAILS)],
        course_id=courses[n // len(users) % len(courses)],  # each (user, course) pair once
        status=STATUSES[n % len(STATUSES)],
        payment_method=PaymentMethod.CARD if n % 4 == 0 else PaymentMethod.EFT,
        full_price=price,
        amount_due=price,
        coupon_code=None,
        coupon_discount=0,
        hold_expires_at=None,
        payment_reference=f"EW-SEARCH-{n:03d}",
        version=1,
        pending=frozenset(),
        cause=Cause(Actor(ActorKind.STUDENT, user), "enroll"),
        at=datetime.now(UTC),
    )


def matches(e: Enrollment, w: EnrollmentFilter) -> bool:
    return (
        (w.status is None or e.status is w.status)
        and (w.course_id is None or e.course_id == w.course_id)
        and (w.user_id is None or e.user_id == w.user_id)
        and (w.email_prefix is None or (e.email or "").lower().startswith(w.email_prefix))
        and (w.payment_reference is None or e.payment_reference == w.payment_reference)
        and (w.payment_method is None or e.payment_method is w.payment_method)
        and (w.created_from is None or e.created_at >= w.created_from)
        and (w.created_to is None or e.created_at < w.created_to)
    )


async def walk(store: StoreEnv, where: EnrollmentFilter, first: int) -> tuple[list[str], set[int]]:
    ids: list[str] = []
    totals: set[int] = set()
    after = None
    while True:
        page = await store.services.enrollments.page(where, first, after)
        ids += [e.id for e in page.rows]
        totals.add(page.total)
        if not page.has_next:
            return ids, totals
        after = page.cursors[-1]


async def test_filter_combinations_return_the_known_answers(store: StoreEnv) -> None:
    courses, users = [unique("course"), unique("course")], [unique("u") for _ in range(18)]
    seeded = []
    for n in range(36):
        created = await store.services.enrollments.insert(seed_draft(store.services, n, courses, users))
        assert created is not None, n
        seeded.append(created)
    in_order = sorted(seeded, key=lambda e: (e.created_at, e.id))  # the keyset's order
    middle = in_order[len(seeded) // 2].created_at
    values: dict[str, list[Any]] = {
        "status": [None, EnrollmentStatus.APPROVED],
        "course_id": [None, courses[0]],
        "user_id": [None, users[3]],
        "email": [None, "ANN", "anna@", "zzz"],
        "payment_reference": [None, "EW-SEARCH-007"],
        "payment_method": [None, PaymentMethod.CARD],
        "created_from": [None, middle],
    }
    nonempty = 0
    for combo in itertools.product(*values.values()):
        where = enrollment_filter(**dict(zip(values, combo, strict=True)))
        expected = [e.id for e in in_order if matches(e, where)]
        ids, totals = await walk(store, where, first=4)
        assert ids == expected, where
        assert totals == {len(expected)}, where
        nonempty += bool(expected)
    assert nonempty > 40  # the population answers most combinations with something


async def test_paging_walks_every_row_once_while_rows_arrive(store: StoreEnv) -> None:
    courses, users = [unique("course")], [unique("u") for _ in range(40)]
    where = EnrollmentFilter(course_id=courses[0])
    for n in range(9):
        assert await store.services.enrollments.insert(seed_draft(store.services, n, courses, users))
    seen: list[str] = []
    page = await store.services.enrollments.page(where, 4, None)
    seen += [e.id for e in page.rows]
    for n in range(9, 12):  # new rows land after the cursor: the walk picks them up once
        assert await store.services.enrollments.insert(seed_draft(store.services, n, courses, users))
    while page.has_next:
        page = await store.services.enrollments.page(where, 4, page.cursors[-1])
        seen += [e.id for e in page.rows]
    assert len(seen) == len(set(seen)) == 12


async def test_enrollments_stored_before_the_search_are_found_after_a_restart(store: StoreEnv) -> None:
    users = [unique("u")]
    created = await store.services.enrollments.insert(seed_draft(store.services, 0, [unique("c")], users))
    assert created is not None
    await store.collections.enrollments.update_one({"_id": created.id}, {"$unset": {"emailLower": ""}})
    where = EnrollmentFilter(user_id=users[0], email_prefix="ann.l")
    assert (await store.services.enrollments.page(where, 5, None)).total == 0
    await ensure_indexes(store.collections)
    assert [e.id for e in (await store.services.enrollments.page(where, 5, None)).rows] == [created.id]
