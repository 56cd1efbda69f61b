"""Coupon rules: validation of new coupons and what a coupon takes off a price."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.errors import DomainError, ErrorCode
from domain.money import DEFAULT_CURRENCY, Money, format_money, validate_currency

MAX_CODE_LENGTH = 64


class ReservationOutcome(StrEnum):
    """What one attempt to reserve a coupon came to (an `enroll` with a coupon code)."""

    RESERVED = "reserved"
    NOT_FOUND = "not_found"
    EXPIRED = "expired"
    ALREADY_USED = "already_used"
    EXHAUSTED = "exhausted"
    WRONG_CURRENCY = "wrong_currency"  # a fixed amount in another currency than the course's price
    WITHDRAWN = "withdrawn"  # disabled by an admin


@dataclass(frozen=True)
class Coupon:
    code: str
    percent_off: int | None
    amount_off: Money | None  # a fixed amount carries its currency: R50 off is not $50 off
    max_redemptions: int
    redeemed: int
    reserved: int  # live holds at the time of reading
    expires_at: datetime | None
    disabled_at: datetime | None = None  # withdrawn by an admin: no new holds

    def applies_to(self, price: Money) -> bool:
        """A percentage applies to any price; a fixed amount only to a price in its own currency."""
        return applies_to(price, self.amount_off)

    def discount_on(self, price: Money) -> int:
        """Minor units taken off `price`; never more than the price itself."""
        return price.amount - price_after(price, self.percent_off, self.amount_off).amount

    def wrong_currency(self, price: Money) -> str:
        """Why this coupon takes nothing off `price`, for the student."""
        off = "nothing" if self.amount_off is None else format_money(self.amount_off)
        return f"this coupon takes {off} off; it cannot be used on a course priced in {price.currency}"


def applies_to(price: Money, amount_off: Money | None) -> bool:
    return amount_off is None or amount_off.currency == price.currency


def price_after(price: Money, percent_off: int | None, amount_off: Money | None) -> Money:
    if percent_off is not None:
        # Round the discount down: the school never gives away a fraction of a cent.
        return price.minus(price.amount * percent_off // 100)
    if amount_off is not None:
        if not applies_to(price, amount_off):  # enroll refuses first; never convert, never ignore
            raise ValueError(f"{format_money(amount_off)} off a price in {price.currency}")
        return price.minus(amount_off.amount)
    return price


def normalize_code(code: str) -> str:
    return code.strip().upper()


@dataclass(frozen=True)
class NewCoupon:
    code: str
    percent_off: int | None
    amount_off: Money | None
    max_redemptions: int
    expires_at: datetime | None


def validate_new_coupon(
    code: str,
    percent_off: int | None,
    amount_off: int | None,
    max_redemptions: int,
    expires_at: datetime | None,
    currency: str = DEFAULT_CURRENCY,
) -> NewCoupon:
    """`currency` is that of `amount_off` (a percentage has none), and refused when unknown either way."""
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
    validate_currency(currency)
    fixed = None if amount_off is None else Money(amount_off, currency)
    return NewCoupon(normalized, percent_off, fixed, max_redemptions, expires_at)
