"""Admins create courses and coupons."""

from __future__ import annotations

from datetime import datetime

from domain.admin_log import AdminLog
from domain.audit import AuditSource, detail_of
from domain.coupon import Coupon, validate_new_coupon
from domain.course import Course, validate_new_course
from domain.errors import DomainError, ErrorCode
from domain.money import DEFAULT_CURRENCY
from domain.ports import CouponStore, CourseStore


async def create_course(
    courses: CourseStore,
    course_id: str | None,
    title: str,
    price: int,
    currency: str,
    published: bool,
    new_id: str,
    *,
    log: AdminLog | None = None,  # None: a seed or a test writing data, not an admin's action
) -> Course:
    course = validate_new_course(course_id, title, price, currency, published, new_id)
    detail = detail_of(title=course.title, price=course.price.amount, currency=course.price.currency)
    entry = None if log is None else log.entry("createCourse", course.id, detail)
    if not await courses.insert_course(course, entry):
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, "a course with this id exists", "id")
    if log is not None:
        await log.settle(AuditSource.COURSES, course.id)
    return course


async def create_coupon(
    coupons: CouponStore,
    code: str,
    percent_off: int | None,
    amount_off: int | None,
    max_redemptions: int,
    expires_at: datetime | None,
    currency: str = DEFAULT_CURRENCY,
    *,
    log: AdminLog | None = None,
) -> Coupon:
    new = validate_new_coupon(code, percent_off, amount_off, max_redemptions, expires_at, currency)
    detail = detail_of(
        percentOff=new.percent_off, maxRedemptions=new.max_redemptions, expiresAt=new.expires_at
    )
    entry = None if log is None else log.entry("createCoupon", new.code, detail)
    if not await coupons.insert_coupon(new, entry):
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, "a coupon with this code exists", "code")
    if log is not None:
        await log.settle(AuditSource.COUPONS, new.code)
    return Coupon(new.code, new.percent_off, new.amount_off, new.max_redemptions, 0, 0, new.expires_at)
