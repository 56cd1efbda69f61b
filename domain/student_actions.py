"""What students do: enroll, try paying again, cancel."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from domain.actors import Actor, Cause
from domain.changes import Changes, not_found, record_change, transition
from domain.checkouts import CheckoutDesk, open_checkout
from domain.coupon import Coupon, ReservationOutcome, normalize_code
from domain.course import Course
from domain.enrollment import (
    Action,
    Effect,
    Enrollment,
    EnrollmentStatus,
    PaymentMethod,
    initial_status,
)
from domain.errors import DomainError, ErrorCode, UserError, forbidden
from domain.events import EventType
from domain.money import Money
from domain.ports import CouponStore, CourseStore, EnrollmentStore, NewEnrollment, Observer, TransitionExtras
from domain.services import Policy
from domain.viewer import Viewer


@dataclass(frozen=True)
class PaymentSession:
    reference: str
    redirect_url: str | None


@dataclass(frozen=True)
class EnrollOutcome:
    enrollment: Enrollment
    payment: PaymentSession | None = None
    course: Course | None = None  # as read for this decision, so the caller need not read it again
    error: UserError | None = None  # the enrollment was written, but its checkout could not open


def new_reference() -> str:
    return "pay_" + secrets.token_urlsafe(18)


async def payment_session(desk: CheckoutDesk, enrollment: Enrollment) -> PaymentSession | None:
    """The current payment of an existing enrollment: its checkout's URL while one is open."""
    reference = enrollment.payment_reference
    if reference is None:
        return None
    redirect = None
    if enrollment.status is EnrollmentStatus.PENDING_PAYMENT:
        checkout = await desk.checkouts.by_reference(reference)
        redirect = None if checkout is None else checkout.redirect_url or None
    return PaymentSession(reference, redirect)


async def _checkout(
    desk: CheckoutDesk, changes: Changes, enrollment: Enrollment, course: Course
) -> EnrollOutcome:
    """A card enrollment waiting for money gets a checkout for what is still due."""
    if (
        enrollment.status is not EnrollmentStatus.PENDING_PAYMENT
        or enrollment.payment_method is not PaymentMethod.CARD
    ):
        reference = enrollment.payment_reference
        session = None if reference is None else PaymentSession(reference, None)
        return EnrollOutcome(enrollment, session, course)
    opened = await open_checkout(desk, changes, enrollment, course)
    assert enrollment.payment_reference is not None
    session = None if opened.error else PaymentSession(enrollment.payment_reference, opened.redirect_url)
    return EnrollOutcome(opened.enrollment, session, course, opened.error)


async def enroll(
    courses: CourseStore,
    coupons: CouponStore,
    changes: Changes,
    policy: Policy,
    observer: Observer,
    desk: CheckoutDesk,
    viewer: Viewer,
    course_id: str,
    method: PaymentMethod,
    coupon_code: str | None,
) -> EnrollOutcome:
    course = await courses.get_course(course_id)
    if course is None or not course.published:
        raise DomainError.of(ErrorCode.COURSE_NOT_FOUND, "no such course", "courseId")
    # One read answers both questions: is one active, and which version the new one continues.
    current = (await changes.enrollments.current_for(viewer.user_id, [course_id])).get(course_id)
    if current is not None and current.active:
        raise AlreadyEnrolled(current)
    previous = current.version if current is not None else 0

    now = changes.clock.now()
    enrollment_id = changes.enrollments.new_id()
    code = normalize_code(coupon_code) if coupon_code else None
    coupon = None
    if code is not None:
        coupon = await _reserve(coupons, observer, policy, code, enrollment_id, viewer, course, now)
    draft = draft_enrollment(policy, viewer, course, method, enrollment_id, coupon, now, previous)
    created = await changes.enrollments.insert(draft)
    if created is None:
        if coupon is not None:
            await coupons.release_hold(coupon.code, enrollment_id, lapsed=False)
        existing = await changes.enrollments.active_for(viewer.user_id, course_id)
        if existing is None:  # the other enrollment ended in between: the caller may try again
            raise DomainError.of(ErrorCode.ALREADY_ENROLLED, "an enrollment was just changed")
        raise AlreadyEnrolled(existing)
    await record_change(changes, created, EventType.CREATED, None)
    return await _checkout(desk, changes, created, course)


class AlreadyEnrolled(DomainError):
    def __init__(self, existing: Enrollment) -> None:
        super().__init__(DomainError.of(ErrorCode.ALREADY_ENROLLED, "already enrolled in this course").error)
        self.existing = existing


_REFUSALS = {
    ReservationOutcome.NOT_FOUND: (ErrorCode.COUPON_NOT_FOUND, "no such coupon"),
    ReservationOutcome.EXPIRED: (ErrorCode.COUPON_EXPIRED, "this coupon has expired"),
    # The contract's code for a coupon that can no longer be used; the message says why.
    ReservationOutcome.WITHDRAWN: (ErrorCode.COUPON_EXPIRED, "this coupon has been withdrawn"),
    ReservationOutcome.ALREADY_USED: (ErrorCode.COUPON_ALREADY_USED, "you have already used this coupon"),
    ReservationOutcome.EXHAUSTED: (ErrorCode.COUPON_EXHAUSTED, "this coupon is used up"),
}


async def _reserve(
    coupons: CouponStore,
    observer: Observer,
    policy: Policy,
    code: str,
    enrollment_id: str,
    viewer: Viewer,
    course: Course,
    now: datetime,
) -> Coupon:
    expires_at = now + policy.coupon_hold
    # The currency is part of the one conditional write: a coupon that does not apply is never held.
    price = course.price
    coupon = await coupons.reserve(code, enrollment_id, viewer.user_id, now, expires_at, price.currency)
    if coupon is not None:
        observer.coupon_reservation(ReservationOutcome.RESERVED)
        return coupon
    current = await coupons.get_coupon(code, now)  # read once to say why (the decision is made)
    outcome = await _why_refused(coupons, current, price, viewer.user_id, now)
    observer.coupon_reservation(outcome)
    if outcome is ReservationOutcome.WRONG_CURRENCY and current is not None:
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, current.wrong_currency(price), "couponCode")
    error_code, message = _REFUSALS[outcome]
    raise DomainError.of(error_code, message, "couponCode")


async def _why_refused(
    coupons: CouponStore, current: Coupon | None, price: Money, user_id: str, now: datetime
) -> ReservationOutcome:
    if current is None:
        return ReservationOutcome.NOT_FOUND
    if current.disabled_at is not None:
        return ReservationOutcome.WITHDRAWN
    if current.expires_at is not None and current.expires_at <= now:
        return ReservationOutcome.EXPIRED
    if not current.applies_to(price):
        return ReservationOutcome.WRONG_CURRENCY
    if await coupons.user_holds_or_redeemed(current.code, user_id, now):
        return ReservationOutcome.ALREADY_USED
    return ReservationOutcome.EXHAUSTED


def draft_enrollment(
    policy: Policy,
    viewer: Viewer,
    course: Course,
    method: PaymentMethod,
    enrollment_id: str,
    coupon: Coupon | None,
    now: datetime,
    previous: int,
) -> NewEnrollment:
    """The enrollment an enroll writes (public for the bench's store floor, which writes the same)."""
    discount = coupon.discount_on(course.price) if coupon is not None else 0
    amount_due = course.price.minus(discount)
    status = initial_status(method, amount_due)
    pending: set[Effect] = set()
    hold_expires_at = None
    if coupon is not None:
        pending.add(Effect.COUPON)
        if status is EnrollmentStatus.PENDING_PAYMENT:
            hold_expires_at = now + policy.coupon_hold
    if status is EnrollmentStatus.APPROVED:
        pending.add(Effect.JOBS)
    return NewEnrollment(
        id=enrollment_id,
        user_id=viewer.user_id,
        email=viewer.email,
        course_id=course.id,
        status=status,
        payment_method=method,
        full_price=course.price,
        amount_due=amount_due,
        coupon_code=coupon.code if coupon is not None else None,
        coupon_discount=discount,
        hold_expires_at=hold_expires_at,
        payment_reference=new_reference() if amount_due.amount > 0 else None,
        version=previous + 1,
        pending=frozenset(pending | {Effect.AUDIT}),
        cause=Cause(Actor.of(viewer), "enroll"),
        at=now,
    )


async def retry_payment(
    courses: CourseStore, changes: Changes, desk: CheckoutDesk, viewer: Viewer, enrollment_id: str
) -> EnrollOutcome:
    await _owned(
        changes.enrollments, viewer, enrollment_id, "only the student who enrolled may retry the payment"
    )
    extras = TransitionExtras(new_reference=new_reference())
    cause = Cause(Actor.of(viewer), "retryPayment")
    changed = await transition(changes, enrollment_id, Action.RETRY_PAYMENT, cause, extras)
    course = await courses.get_course(changed.course_id)
    if course is None:  # courses are never deleted; a missing one is a data fault
        raise LookupError(f"course {changed.course_id} missing")
    return await _checkout(desk, changes, changed, course)


async def cancel(changes: Changes, viewer: Viewer, enrollment_id: str) -> Enrollment:
    await _owned(changes.enrollments, viewer, enrollment_id, "only the student who enrolled may cancel")
    cause = Cause(Actor.of(viewer), "cancelEnrollment")
    return await transition(changes, enrollment_id, Action.CANCEL, cause, TransitionExtras())


async def _owned(
    enrollments: EnrollmentStore, viewer: Viewer, enrollment_id: str, refusal: str
) -> Enrollment:
    """The enrollment, if it exists and is the viewer's own."""
    current = await enrollments.get(enrollment_id)
    if current is None:
        raise not_found()
    if current.user_id != viewer.user_id:
        raise forbidden(refusal)
    return current
