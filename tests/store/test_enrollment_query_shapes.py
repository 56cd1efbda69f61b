"""Every query shape the admin search can produce is served by a declared index.

Checked against our own rule (store/enrollment_query.py), not SecantusDB's `explain`: its planner
is not MongoDB's, so what it picks proves nothing about production.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from pymongo import IndexModel

from domain.enrollment import EnrollmentStatus, PaymentMethod
from domain.enrollment_filter import EnrollmentFilter
from domain.payment_events import PaymentEvent
from store.dashboard import NEWEST_FIRST, window
from store.enrollment_query import Plan, filter_query, index_for
from store.indexes import ENROLLMENT_INDEXES
from store.pages import encode_cursor, past_cursor
from store.payments import ANY, record_filter

AT = datetime(2026, 3, 1, tzinfo=UTC)
FIELDS: dict[str, object] = {
    "status": EnrollmentStatus.APPROVED,
    "course_id": "c1",
    "user_id": "u1",
    "email_prefix": "ann",
    "payment_reference": "EW-1",
    "payment_method": PaymentMethod.CARD,
    "created_from": AT,
    "created_to": datetime(2026, 4, 1, tzinfo=UTC),
}
CURSOR = encode_cursor(AT, "e1")


def every_filter() -> list[EnrollmentFilter]:
    names = list(FIELDS)
    return [
        EnrollmentFilter(**{name: FIELDS[name] for name in chosen})  # type: ignore[arg-type]
        for size in range(len(names) + 1)
        for chosen in itertools.combinations(names, size)
    ]


def test_every_filter_combination_and_page_is_served_by_an_index() -> None:
    filters = every_filter()
    assert len(filters) == 256
    for where in filters:
        for after in (None, CURSOR):
            query = past_cursor(filter_query(where), after)
            plan = index_for(query, ENROLLMENT_INDEXES)
            assert plan is not None, (where, after)
            # Only an e-mail prefix alone leads with a range: its matches are sorted in memory.
            alone = where == EnrollmentFilter(
                email_prefix="ann", created_from=where.created_from, created_to=where.created_to
            )
            assert plan.sorts_in_memory == (alone and where.email_prefix is not None), (where, plan)


def test_the_check_refuses_what_no_index_serves() -> None:
    without_email = [i for i in ENROLLMENT_INDEXES if i.document["name"] != "by_email"]
    assert index_for(filter_query(EnrollmentFilter(email_prefix="ann")), without_email) is None
    # A regex is not a range an index can seek to.
    assert index_for({"email": {"$regex": "^ann", "$options": "i"}}, ENROLLMENT_INDEXES) is None
    # A partial index serves only queries that imply its filter.
    assert index_for({"userId": "u1", "courseId": "c1"}, [ENROLLMENT_INDEXES[0]]) is None
    # Sorted the other way round from its keys' order after the equality: not served.
    odd = [IndexModel([("status", 1), ("_id", 1), ("createdAt", 1)], name="odd")]
    assert index_for({"status": "APPROVED"}, odd) is None


def test_the_names_the_readme_gives() -> None:
    def served(**fields: object) -> str:
        plan = index_for(filter_query(EnrollmentFilter(**fields)), ENROLLMENT_INDEXES)  # type: ignore[arg-type]
        assert plan is not None
        return plan.index

    assert served() == "by_created"
    assert served(status=EnrollmentStatus.APPROVED) == "by_status"
    assert served(course_id="c1") == "by_course"
    assert served(user_id="u1") == "by_user_recent"
    assert served(email_prefix="ann") == "by_email"
    assert served(payment_reference="EW-1") == "by_payment_reference"
    assert served(payment_method=PaymentMethod.EFT) == "by_method"
    assert served(created_from=AT) == "by_created"


def test_the_dashboard_reads_are_served_too() -> None:
    assert index_for(window(AT), ENROLLMENT_INDEXES) == Plan("by_created", sorts_in_memory=False)
    assert index_for(window(AT), ENROLLMENT_INDEXES, NEWEST_FIRST) == Plan(
        "by_created", sorts_in_memory=False
    )
    status = filter_query(EnrollmentFilter(status=EnrollmentStatus.AWAITING_APPROVAL))
    assert index_for(status, ENROLLMENT_INDEXES) == Plan("by_status", sorts_in_memory=False)


def test_a_callback_finds_its_enrollment_through_a_scalar_index_and_older_references_through_the_array() -> (
    None
):
    event = PaymentEvent("evt_1", "payment.succeeded", "pay_1", 100, "ZAR")
    current = index_for(record_filter(event, AT), ENROLLMENT_INDEXES, sort=())
    # Not partial and not multikey: any store answers an equality on it from the index.
    assert current == Plan("by_current_reference", sorts_in_memory=False)
    older = index_for(record_filter(event, AT, ANY), ENROLLMENT_INDEXES, sort=())
    assert older == Plan("by_payment_reference", sorts_in_memory=False)
