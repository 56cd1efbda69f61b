"""Coupon rules: validation of new coupons and what a coupon takes off a price."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.errors import DomainError, ErrorCode
from domain.money import Money

MAX_CODE_LENGTH = 64


class ReservationOutcome(StrEnum):
    """What one attempt to reserve a coupon came to (an `enroll` with a coupon code)."""

    RESERVED = "reserved"
    NOT_FOUND = "not_found"
    EXPIRED = "expired"
    ALREADY_USED = "already_used"
    EXHAUSTED = "exhausted"


@dataclass(frozen=True)
class Coupon:
    code: str
    percent_off: int | None
    amount_off: int | None
    max_redemptions: int
    redeemed: int
    reserved: int  # live holds at the time of reading
    expires_at: datetime | None

    def discount_on(self, price: Money) -> int:
        """Minor units taken off `price`; never more than the price itself."""
        return price.amount - price_after(price, self.percent_off, self.amount_off).amount


def price_after(price: Money, percent_off: int | None, amount_off: int | None) -> Money:
    if percent_off is not None:
        # Round the discount down: the school never gives away a fraction of a cent.
        return price.minus(price.amount * percent_off // 100)
    if amount_off is not None:
        return price.minus(amount_off)
    return price


def normalize_code(code: str) -> str:
    return code.strip().upper()


@dataclass(frozen=True)
class NewCoupon:
    code: str
    percent_off: int | None
    amount_off: int | None
    max_redemptions: int
    expires_at: datetime | None


def validate_new_coupon(
    code: str,
    percent_off: int | None,
    amount_off: int | None,
    max_redemptions: int,
    expires_at: datetime | None,
) -> NewCoupon:
    normalized = normalize_code(code)
    if not normalized or len(normalized) > MAX_CODE_LENGTH or not normalized.isprintable():
        raise DomainError.of(
            ErrorCode.VALIDATION_FAILED, f"code must be 1-{MAX_CODE_LENGTH} characters", "code"
        )
    if (percent_off is None) == (amount_off is None):
        raise DomainError.of(
            ErrorCode.VALIDATION_FAILED,
            "give exactly one of percentOff and amountOff",
            "percentOff",
        )
    if percent_off is not None and not 1 <= percent_off <= 100:
        raise DomainError.of(
            ErrorCode.VALIDATION_FAILED, "percentOff must be between 1 and 100", "percentOff"
        )
    if amount_off is not None and amount_off <= 0:
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, "amountOff must be above 0", "amountOff")
    if max_redemptions < 1:
        raise DomainError.of(
            ErrorCode.VALIDATION_FAILED, "maxRedemptions must be at least 1", "maxRedemptions"
        )
    return NewCoupon(normalized, percent_off, amount_off, max_redemptions, expires_at)
