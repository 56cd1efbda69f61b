"""Admins create courses and coupons."""

from __future__ import annotations

from datetime import datetime

from domain.admin_log import Recorder
from domain.audit import detail_of
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
    record: Recorder | None = None,  # None: a seed or a test writing data, not an admin's action
) -> Course:
    course = validate_new_course(course_id, title, price, currency, published, new_id)
    if not await courses.insert_course(course):
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, "a course with this id exists", "id")
    # A course is created once under its id, so the entry's id is unique to this action.
    detail = detail_of(title=course.title, price=course.price.amount, currency=course.price.currency)
    if record is not None:
        await record(f"course:{course.id}", "createCourse", course.id, detail)
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
    record: Recorder | None = None,
) -> Coupon:
    new = validate_new_coupon(code, percent_off, amount_off, max_redemptions, expires_at, currency)
    if not await coupons.insert_coupon(new):
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, "a coupon with this code exists", "code")
    detail = detail_of(
        percentOff=new.percent_off, maxRedemptions=new.max_redemptions, expiresAt=new.expires_at
    )
    if record is not None:
        await record(f"coupon:{new.code}", "createCoupon", new.code, detail)
    return Coupon(new.code, new.percent_off, new.amount_off, new.max_redemptions, 0, 0, new.expires_at)
