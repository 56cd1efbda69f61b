"""What happened to an enrollment, as one value every listener receives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.enrollment import Enrollment, EnrollmentStatus


class EventType(StrEnum):
    CREATED = "CREATED"
    STATUS_CHANGED = "STATUS_CHANGED"
    PAYMENT_RECORDED = "PAYMENT_RECORDED"


@dataclass(frozen=True)
class EnrollmentChange:
    type: EventType
    enrollment: Enrollment
    previous_status: EnrollmentStatus | None
    at: datetime
