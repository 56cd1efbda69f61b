"""Demo data for development: idempotent, so every `make run` may call it."""

from __future__ import annotations

from domain.coupon import validate_new_coupon
from domain.course import Course
from domain.money import Money
from domain.ports import CouponStore, CourseStore

DEMO_COURSES = (
    Course("python-101", "Python for Beginners", Money(129_00, "ZAR"), True),
    Course("graphql-201", "Real-time GraphQL", Money(249_00, "ZAR"), True),
)
DEMO_COUPON = validate_new_coupon("WELCOME10", 10, None, 5, None)
DEMO_STUDENT = "demo-student"
DEMO_ADMIN = "demo-admin"


async def seed_demo(courses: CourseStore, coupons: CouponStore) -> None:
    for course in DEMO_COURSES:
        await courses.insert_course(course)
    await coupons.insert_coupon(DEMO_COUPON)
