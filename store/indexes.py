"""Every collection's indexes, created idempotently at startup."""

from __future__ import annotations

from datetime import timedelta

from pymongo import ASCENDING, DESCENDING, IndexModel

from domain.enrollment import ACTIVE_STATUSES
from store.audit import OUTBOX
from store.database import Collections
from store.job_retention import COUNTS_COLLECTION, DEFAULT_RETENTION, ensure_retention
from store.jobs import JOB_INDEXES, RETIRED_JOB_INDEXES

ONE_ACTIVE_INDEX = "one_active_enrollment_per_user_course"

ENROLLMENT_INDEXES = [
    IndexModel(
        [("userId", ASCENDING), ("courseId", ASCENDING)],
        name=ONE_ACTIVE_INDEX,
        unique=True,
        partialFilterExpression={"status": {"$in": sorted(ACTIVE_STATUSES)}},
    ),
    # The oldest-first pending queue and the admin list filtered by status.
    IndexModel([("status", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)], name="by_status"),
    IndexModel([("courseId", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)], name="by_course"),
    IndexModel([("createdAt", ASCENDING), ("_id", ASCENDING)], name="by_created"),
    # The admin search (store/enrollment_query.py): an e-mail prefix is a range on the lowercased
    # address; the payment method narrows a list of its own.
    IndexModel([("emailLower", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)], name="by_email"),
    IndexModel(
        [("paymentMethod", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)], name="by_method"
    ),
    IndexModel([("userId", ASCENDING), ("courseId", ASCENDING), ("version", ASCENDING)], name="by_user"),
    IndexModel(
        [("userId", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)], name="by_user_recent"
    ),
    IndexModel(
        [("paymentReferences", ASCENDING)],
        name="by_payment_reference",
        unique=True,
        partialFilterExpression={"paymentReferences": {"$exists": True}},
    ),
    # The current reference, which a callback names almost always (store/payments.py): a scalar,
    # which every store serves from its index (SecantusDB does not use the multikey partial index
    # above for an equality). Not unique: the current reference is always in `paymentReferences`,
    # whose index already makes each reference one enrollment's.
    IndexModel([("paymentReference", ASCENDING)], name="by_current_reference"),
    IndexModel([("couponState", ASCENDING), ("holdExpiresAt", ASCENDING)], name="by_hold_expiry"),
    IndexModel([("pending", ASCENDING)], name="by_pending"),
]

# Checkouts are keyed by the gateway's id (_id); a callback without ours names our reference.
CHECKOUT_INDEXES = [IndexModel([("reference", ASCENDING)], name="by_reference")]

COURSE_INDEXES = [IndexModel([("published", ASCENDING), ("_id", ASCENDING)], name="by_published")]


# Newest first (read backwards), whole log or one actor's, action's or enrollment's. Ascending:
# SecantusDB misses equality-plus-range matches on a descending compound index.
AUDIT_INDEXES = [
    IndexModel([("createdAt", ASCENDING), ("_id", ASCENDING)], name="by_time"),
    IndexModel([("actor.id", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)], name="by_actor"),
    IndexModel([("action", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)], name="by_action"),
    IndexModel(
        [("enrollmentId", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)], name="by_enrollment"
    ),
]


# Only the documents whose audit outbox is not empty (a crash between a change and its copy).
AUDIT_OUTBOX_INDEX = IndexModel(
    [(f"{OUTBOX}.createdAt", ASCENDING)],
    name="by_audit_outbox",
    partialFilterExpression={f"{OUTBOX}.createdAt": {"$exists": True}},
)


async def ensure_indexes(collections: Collections, job_retention: timedelta = DEFAULT_RETENTION) -> None:
    await collections.audit.create_indexes(AUDIT_INDEXES)
    for outboxes in (collections.courses, collections.coupons, collections.jobs):
        await outboxes.create_indexes([AUDIT_OUTBOX_INDEX])
    await collections.enrollments.create_indexes(ENROLLMENT_INDEXES)
    # Enrollments written before the admin search stored the lowercased address (one pass; the
    # filter names the missing field, so a restart after it finds nothing to do).
    await collections.enrollments.update_many(
        {"emailLower": {"$exists": False}, "email": {"$type": "string"}},
        [{"$set": {"emailLower": {"$toLower": "$email"}}}],
    )
    await collections.courses.create_indexes(COURSE_INDEXES)
    await collections.jobs.create_indexes(JOB_INDEXES)
    existing = await collections.jobs.index_information()
    for retired in RETIRED_JOB_INDEXES:
        if retired in existing:
            await collections.jobs.drop_index(retired)
    await ensure_retention(collections.jobs, collections.db[COUNTS_COLLECTION], job_retention)
    await collections.checkouts.create_indexes(CHECKOUT_INDEXES)
