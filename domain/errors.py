"""Expected failures are values with stable codes; the API maps them, never a 500."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    COURSE_NOT_FOUND = "COURSE_NOT_FOUND"
    ENROLLMENT_NOT_FOUND = "ENROLLMENT_NOT_FOUND"
    ALREADY_ENROLLED = "ALREADY_ENROLLED"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    COUPON_NOT_FOUND = "COUPON_NOT_FOUND"
    COUPON_EXPIRED = "COUPON_EXPIRED"
    COUPON_EXHAUSTED = "COUPON_EXHAUSTED"
    COUPON_ALREADY_USED = "COUPON_ALREADY_USED"
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    VALIDATION_FAILED = "VALIDATION_FAILED"
    PAYMENT_GATEWAY_UNAVAILABLE = "PAYMENT_GATEWAY_UNAVAILABLE"


@dataclass(frozen=True)
class UserError:
    code: ErrorCode
    message: str
    field: str | None = None


class DomainError(Exception):
    """Raised inside a use case to abort with a UserError; nothing was written."""

    def __init__(self, error: UserError) -> None:
        super().__init__(error.message)
        self.error = error

    @classmethod
    def of(cls, code: ErrorCode, message: str, field: str | None = None) -> DomainError:
        return cls(UserError(code, message, field))


class AuthError(Exception):
    """Who is asking may not: UNAUTHENTICATED or FORBIDDEN, surfaced as GraphQL errors."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def unauthenticated(message: str = "sign in required") -> AuthError:
    return AuthError("UNAUTHENTICATED", message)


def forbidden(message: str = "not allowed") -> AuthError:
    return AuthError("FORBIDDEN", message)
