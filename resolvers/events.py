"""The event a subscription pushes for one enrollment change, with who caused it."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.actors import SYSTEM
from domain.actors import Actor as DomainActor
from domain.enrollment import EnrollmentStatus
from domain.events import EnrollmentChange, EventType
from resolvers.actors import Actor
from resolvers.context import Info
from resolvers.types import Enrollment


@strawberry.type
class EnrollmentEvent:
    type: EventType
    enrollment: Enrollment
    previous_status: EnrollmentStatus | None
    at: datetime
    cause: strawberry.Private[DomainActor]

    @strawberry.field(description="Who caused this change (to a student, an admin shows without id).")
    def actor(self, info: Info) -> Actor:
        return Actor.shown(self.cause, info)

    @classmethod
    def of(cls, change: EnrollmentChange) -> EnrollmentEvent:
        history = change.enrollment.history
        return cls(
            type=change.type,
            enrollment=Enrollment(model=change.enrollment),
            previous_status=change.previous_status,
            at=change.at,
            # The post-image's last history entry is the change this event reports.
            cause=history[-1].actor if history else SYSTEM,
        )
