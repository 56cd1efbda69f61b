"""The collaborators a use case takes, drawn from the bundle the tests hold (as the resolvers do)."""

from __future__ import annotations

from domain.changes import Changes
from domain.checkouts import CheckoutDesk
from domain.ports import CouponStore, CourseStore, Observer
from domain.services import Policy, Services


def enrolling(services: Services) -> tuple[CourseStore, CouponStore, Changes, Policy, Observer, CheckoutDesk]:
    """What `student_actions.enroll` takes before the viewer."""
    return (
        services.courses,
        services.coupons,
        services.changes,
        services.policy,
        services.observer,
        services.desk,
    )
