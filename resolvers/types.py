"""GraphQL object types: thin views over domain values."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import card as card_rules
from domain.card import CardAction
from domain.coupon import Coupon as DomainCoupon
from domain.course import Course as DomainCourse
from domain.enrollment import AccessStatus, EnrollmentStatus, PaymentMethod
from domain.enrollment import Enrollment as DomainEnrollment
from domain.errors import ErrorCode
from domain.errors import UserError as DomainUserError
from domain.money import Money as DomainMoney
from resolvers import enums  # noqa: F401  (registers the enums)
from resolvers.actors import EnrollmentChange
from resolvers.context import Info
from resolvers.permissions import require_admin, require_owner_or_admin


@strawberry.type
class Money:
    amount: int
    currency: str

    @classmethod
    def of(cls, money: DomainMoney) -> Money:
        return cls(amount=money.amount, currency=money.currency)


@strawberry.type
class Course:
    id: strawberry.ID
    title: str
    price: Money
    published: bool

    @classmethod
    def of(cls, course: DomainCourse) -> Course:
        return cls(
            id=strawberry.ID(course.id),
            title=course.title,
            price=Money.of(course.price),
            published=course.published,
        )


@strawberry.type
class AccessProvisioning:
    status: AccessStatus
    attempts: int
    last_error: str | None
    updated_at: datetime | None
    launch_url: str | None = strawberry.field(
        description="Where the student starts on the learning platform, as it answered provisioning."
    )


@strawberry.type
class WebhookDelivery:
    event_id: str
    type: str
    outcome: str
    amount: int | None
    received_at: datetime


def _admin(info: Info) -> bool:
    viewer = info.context.viewer
    return viewer is not None and viewer.is_admin


@strawberry.type
class Enrollment:
    model: strawberry.Private[DomainEnrollment]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.model.id)

    @strawberry.field
    def course_id(self) -> strawberry.ID:
        return strawberry.ID(self.model.course_id)

    @strawberry.field
    async def course(self, info: Info) -> Course:
        course = await info.context.loaders.course.load(self.model.course_id)
        if course is None:  # courses are never deleted; a missing one is a data fault
            raise LookupError(f"course {self.model.course_id} missing")
        return Course.of(course)

    @strawberry.field
    def user_id(self) -> strawberry.ID:
        return strawberry.ID(self.model.user_id)

    @strawberry.field
    def status(self) -> EnrollmentStatus:
        return self.model.status

    @strawberry.field
    def payment_method(self) -> PaymentMethod:
        return self.model.payment_method

    @strawberry.field
    def amount_due(self) -> Money:
        return Money.of(self.model.amount_due)

    @strawberry.field
    def amount_paid(self) -> Money:
        return Money.of(self.model.amount_paid)

    @strawberry.field
    def coupon_code(self) -> str | None:
        return None if self.model.coupon is None else self.model.coupon.code

    @strawberry.field
    def payment_reference(self) -> str | None:
        return self.model.payment_reference

    @strawberry.field(description="The card gateway's id of the latest checkout (owner or admin).")
    def gateway_transaction_id(self, info: Info) -> str | None:
        require_owner_or_admin(info, self.model.user_id)
        return self.model.gateway_transaction_id

    @strawberry.field
    def rejection_reason(self) -> str | None:
        return self.model.rejection_reason

    @strawberry.field(description="Owner or admin: every status change and payment, oldest first.")
    def history(self, info: Info) -> list[EnrollmentChange]:
        require_owner_or_admin(info, self.model.user_id)
        return [EnrollmentChange.of(change, info) for change in self.model.history]

    @strawberry.field(description="Owner or admin.")
    def user_email(self, info: Info) -> str | None:
        require_owner_or_admin(info, self.model.user_id)
        return self.model.email

    @strawberry.field
    def approved_at(self) -> datetime | None:
        return self.model.approved_at

    @strawberry.field
    def rejected_at(self) -> datetime | None:
        return self.model.rejected_at

    @strawberry.field
    def revoked_at(self) -> datetime | None:
        return self.model.revoked_at

    @strawberry.field(
        description="Admin only (null for others): the admin who approved, rejected or revoked."
    )
    def decided_by(self, info: Info) -> strawberry.ID | None:
        decided_by = self.model.decided_by
        return strawberry.ID(decided_by) if decided_by is not None and _admin(info) else None

    @strawberry.field(description="Admin only (null for others): the admin who approved.")
    def approved_by(self, info: Info) -> strawberry.ID | None:
        approved_by = self.model.approved_by
        if approved_by is None or not _admin(info):
            return None
        return strawberry.ID(approved_by)

    @strawberry.field
    def version(self) -> int:
        return self.model.version

    @strawberry.field
    def created_at(self) -> datetime:
        return self.model.created_at

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.model.updated_at

    @strawberry.field(description="lastError is for admins only (it names the platform's hosts).")
    def access(self, info: Info) -> AccessProvisioning:
        a = self.model.access
        last_error = a.last_error if _admin(info) else None
        return AccessProvisioning(
            status=a.status,
            attempts=a.attempts,
            last_error=last_error,
            updated_at=a.updated_at,
            launch_url=a.launch_url,
        )

    @strawberry.field(description="Admin only: every webhook delivery and its outcome.")
    async def webhook_deliveries(self, info: Info) -> list[WebhookDelivery]:
        require_admin(info)
        # Batched: an admin list asking for deliveries costs one query, not one per row.
        enrollment = await info.context.loaders.full_enrollment.load(self.model.id)
        deliveries = enrollment.deliveries if enrollment is not None else ()
        return [
            WebhookDelivery(
                event_id=d.event_id,
                type=d.type,
                outcome=d.outcome,
                amount=d.amount,
                received_at=d.received_at,
            )
            for d in deliveries
        ]


@strawberry.type
class CourseCard:
    course: Course
    enrollment: Enrollment | None
    button_text: str
    action: CardAction
    disabled: bool
    has_access: bool
    version: int
    continue_url: str | None = strawberry.field(
        description="Where Continue Course leads: the launch URL once access is PROVISIONED."
    )

    @classmethod
    def of(cls, course: DomainCourse, signed_in: bool, enrollment: DomainEnrollment | None) -> CourseCard:
        face = card_rules.card_face(signed_in, enrollment)
        return cls(
            course=Course.of(course),
            enrollment=None if enrollment is None else Enrollment(model=enrollment),
            button_text=face.button_text,
            action=face.action,
            disabled=face.disabled,
            has_access=face.has_access,
            version=0 if enrollment is None else enrollment.version,
            continue_url=card_rules.continue_url(enrollment),
        )


@strawberry.type
class Coupon:
    code: str
    percent_off: int | None
    amount_off: Money | None
    max_redemptions: int
    redeemed: int
    reserved: int
    expires_at: datetime | None
    disabled_at: datetime | None = strawberry.field(default=None, description="Withdrawn: no new holds.")

    @classmethod
    def of(cls, coupon: DomainCoupon) -> Coupon:
        amount_off = None if coupon.amount_off is None else Money.of(coupon.amount_off)
        return cls(
            code=coupon.code,
            percent_off=coupon.percent_off,
            amount_off=amount_off,
            max_redemptions=coupon.max_redemptions,
            redeemed=coupon.redeemed,
            reserved=coupon.reserved,
            expires_at=coupon.expires_at,
            disabled_at=coupon.disabled_at,
        )


@strawberry.type
class UserError:
    code: ErrorCode
    message: str
    field: str | None

    @classmethod
    def of(cls, error: DomainUserError) -> UserError:
        return cls(code=error.code, message=error.message, field=error.field)


@strawberry.type
class PaymentSession:
    reference: str
    redirect_url: str | None
