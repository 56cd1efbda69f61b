"""Admins change courses and withdraw coupons; each change is audited and courses' are pushed.

A course change is pushed to every open card of the course (the announcer's job), and touches no
enrollment: an enrollment keeps the amount it was created with, whatever the price becomes.
A withdrawn coupon refuses new holds (COUPON_EXPIRED, "withdrawn") and leaves existing holds
to the usual rules: they are redeemed on approval or lapse as before.
"""

from __future__ import annotations

from domain.admin_log import AdminLog
from domain.audit import AuditSource, detail_of
from domain.coupon import Coupon, normalize_code
from domain.course import Course, CourseChanges, is_course_id, validate_changes
from domain.errors import DomainError, ErrorCode
from domain.ports import Clock, CouponStore, CourseStore, EventPublisher


async def update_course(
    courses: CourseStore,
    publisher: EventPublisher,
    log: AdminLog,
    course_id: str,
    changes: CourseChanges,
) -> Course:
    clean = validate_changes(changes)
    entry = log.entry("updateCourse", course_id, detail_of(**clean.fields()))
    updated = await courses.update_course(course_id, clean, entry) if is_course_id(course_id) else None
    if updated is None:
        raise DomainError.of(ErrorCode.COURSE_NOT_FOUND, "no such course", "id")
    course, _ = updated
    await log.settle(AuditSource.COURSES, course.id)
    await publisher.course_changed(course.id)
    return course


async def disable_coupon(coupons: CouponStore, clock: Clock, log: AdminLog, code: str) -> Coupon:
    """Idempotent: withdrawing a withdrawn coupon changes nothing and writes no second entry."""
    normalized = normalize_code(code)
    now = clock.now()
    withdrawn = await coupons.disable(normalized, now, log.entry("disableCoupon", normalized, None))
    if withdrawn is None:
        current = await coupons.get_coupon(normalized, now)
        if current is None:
            raise DomainError.of(ErrorCode.COUPON_NOT_FOUND, "no such coupon", "code")
        return current
    await log.settle(AuditSource.COUPONS, normalized)
    return withdrawn
