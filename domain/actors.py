"""Who caused a change, and the record each change leaves on its enrollment's history."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.viewer import Viewer


class ActorKind(StrEnum):
    STUDENT = "STUDENT"
    ADMIN = "ADMIN"
    GATEWAY = "GATEWAY"
    SYSTEM = "SYSTEM"


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str | None = None  # the user id, or the gateway's name; None for the system

    @classmethod
    def of(cls, viewer: Viewer) -> Actor:
        return cls(ActorKind.ADMIN if viewer.is_admin else ActorKind.STUDENT, viewer.user_id)

    @classmethod
    def gateway(cls, name: str) -> Actor:
        return cls(ActorKind.GATEWAY, name)


SYSTEM = Actor(ActorKind.SYSTEM)


class SystemAction(StrEnum):
    """The contract's names for what the system does on its own (sweeps, expiry, jobs)."""

    HOLD_LAPSED = "hold_lapsed"
    CHECKOUT_EXPIRED = "checkout_expired"
    PAYMENT_RECONCILED = "payment_reconciled"
    ACCESS_PROVISIONED = "access_provisioned"
    ACCESS_FAILED = "access_failed"
    ACCESS_REVOKED = "access_revoked"


@dataclass(frozen=True)
class Cause:
    """Who did it, under which name (a mutation's field name, a gateway event type, a system
    action) and why; written into the same conditional update as the change it explains."""

    actor: Actor
    action: str
    reason: str | None = None


def audit_id(enrollment_id: str, version: int) -> str:
    return f"{enrollment_id}:{version}"
