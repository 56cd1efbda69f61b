"""The enrollments CSV: one row per enrollment in creation order, safe to open in a spreadsheet.

Streamed in batches, so memory holds one batch whatever the export's size. A cell a spreadsheet
would read as a formula (`=`, `+`, `-`, `@`, or a tab or carriage return that some programs skip
before one) is prefixed with `'`: titles, e-mails and reasons are typed by people.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict
from datetime import datetime

from domain.admin_log import AdminLog
from domain.enrollment import Enrollment
from domain.enrollment_filter import EnrollmentFilter
from domain.money import major_units
from domain.ports import CourseStore, EnrollmentStore

HEADER = (
    "enrollmentId", "createdAt", "status", "courseId", "courseTitle", "userId", "email",
    "paymentMethod", "currency", "fullPrice", "amountDue", "amountPaid", "couponCode",
    "paymentReference", "gatewayTransactionId", "rejectionReason", "approvedAt", "rejectedAt",
)  # fmt: skip
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BATCH = 500


def neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def row_of(e: Enrollment, title: str) -> list[str]:
    cells = [
        e.id, e.created_at.isoformat(), e.status.value, e.course_id, title, e.user_id, e.email or "",
        e.payment_method.value, e.amount_due.currency, major_units(e.full_price),
        major_units(e.amount_due), major_units(e.amount_paid), e.coupon.code if e.coupon else "",
        e.payment_reference or "", e.gateway_transaction_id or "", e.rejection_reason or "",
        _iso(e.approved_at), _iso(e.rejected_at),
    ]  # fmt: skip
    return [neutralise(cell) for cell in cells]


def _iso(value: datetime | None) -> str:
    return "" if value is None else value.isoformat()


def _lines(rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def filter_detail(where: EnrollmentFilter) -> str:
    fields = {k: v for k, v in asdict(where).items() if v is not None}
    return json.dumps(fields, separators=(",", ":"), default=str, sort_keys=True)


async def export_csv(
    enrollments: EnrollmentStore,
    courses: CourseStore,
    log: AdminLog,
    where: EnrollmentFilter,
) -> AsyncIterator[str]:
    """The CSV text in pieces, once the download is in the audit log (before its first byte)."""
    await log.append("exportEnrollments", None, filter_detail(where))
    return _pieces(enrollments, courses, where)


async def _pieces(
    enrollments: EnrollmentStore, courses: CourseStore, where: EnrollmentFilter
) -> AsyncIterator[str]:
    yield _lines([HEADER])
    titles: dict[str, str] = {}
    async for batch in enrollments.batches(where, BATCH):
        missing = {e.course_id for e in batch} - titles.keys()
        if missing:
            found = await courses.get_courses(sorted(missing))
            titles.update({cid: found[cid].title if cid in found else "" for cid in missing})
        yield _lines([row_of(e, titles[e.course_id]) for e in batch])
