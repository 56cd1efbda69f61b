"""Registers the domain's enums with Strawberry under the contract's GraphQL names.

`strawberry.enum` annotates the class in place, so resolvers annotate with the domain
enums themselves; importing this module is what makes them GraphQL enums.
"""

from __future__ import annotations

import strawberry

from domain.card import CardAction
from domain.enrollment import AccessStatus, EnrollmentStatus, PaymentMethod
from domain.errors import ErrorCode
from domain.events import EventType

for _enum in (EnrollmentStatus, PaymentMethod, CardAction, ErrorCode, AccessStatus):
    strawberry.enum(_enum)
strawberry.enum(EventType, name="EnrollmentEventType")
