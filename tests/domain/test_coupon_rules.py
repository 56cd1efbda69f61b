"""Coupon pricing and the rules for creating a coupon."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.coupon import Coupon, normalize_code, price_after, validate_new_coupon
from domain.errors import DomainError, ErrorCode
from domain.money import Money


def zar(amount: int) -> Money:
    return Money(amount, "ZAR")


@pytest.mark.parametrize(
    ("price", "percent", "expected"),
    [
        (1000, 10, 900),
        (999, 10, 900),  # 99.9 off rounds down to 99: never a fraction of a cent given away
        (1, 50, 1),
        (3, 33, 3),
        (12900, 15, 10965),
        (1000, 100, 0),
        (0, 50, 0),
    ],
)
def test_percent_off_rounds_the_discount_down(price: int, percent: int, expected: int) -> None:
    assert price_after(zar(price), percent, None) == zar(expected)


@pytest.mark.parametrize(("price", "off", "expected"), [(1000, 250, 750), (1000, 1000, 0), (1000, 5000, 0)])
def test_amount_off_never_below_zero(price: int, off: int, expected: int) -> None:
    assert price_after(zar(price), None, zar(off)) == zar(expected)


def test_no_coupon_no_discount() -> None:
    assert price_after(zar(1234), None, None) == zar(1234)


def test_discount_on_is_what_comes_off() -> None:
    coupon = Coupon("X", None, zar(5000), 1, 0, 0, None)
    assert coupon.discount_on(zar(1000)) == 1000
    assert Coupon("Y", 10, None, 1, 0, 0, None).discount_on(zar(999)) == 99


def test_money_is_never_negative() -> None:
    with pytest.raises(ValueError):
        Money(-1, "ZAR")


def refused(**kwargs: object) -> DomainError:
    args: dict[str, object] = {
        "code": "SPRING",
        "percent_off": None,
        "amount_off": None,
        "max_redemptions": 1,
        "expires_at": None,
    }
    args.update(kwargs)
    with pytest.raises(DomainError) as caught:
        validate_new_coupon(**args)  # type: ignore[arg-type]
    assert caught.value.error.code is ErrorCode.VALIDATION_FAILED
    return caught.value


@pytest.mark.parametrize("percent", [0, 101, -5])
def test_percent_off_outside_1_to_100_refused(percent: int) -> None:
    assert refused(percent_off=percent).error.field == "percentOff"


def test_both_or_neither_discount_refused() -> None:
    refused(percent_off=10, amount_off=100)
    refused()


@pytest.mark.parametrize("amount", [0, -1])
def test_amount_off_must_be_positive(amount: int) -> None:
    assert refused(amount_off=amount).error.field == "amountOff"


@pytest.mark.parametrize("limit", [0, -1])
def test_max_redemptions_at_least_one(limit: int) -> None:
    assert refused(percent_off=10, max_redemptions=limit).error.field == "maxRedemptions"


@pytest.mark.parametrize("code", ["", "   ", "X" * 65, "BAD\nCODE"])
def test_bad_codes_refused(code: str) -> None:
    assert refused(code=code, percent_off=10).error.field == "code"


def test_valid_coupons_are_normalized() -> None:
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    new = validate_new_coupon(" spring26 ", 1, None, 1, expires)
    assert (new.code, new.percent_off, new.max_redemptions, new.expires_at) == ("SPRING26", 1, 1, expires)
    assert validate_new_coupon("x", 100, None, 5, None).percent_off == 100
    assert validate_new_coupon("x", None, 1, 5, None).amount_off == zar(1)
    assert normalize_code("  aBc ") == "ABC"


def test_a_fixed_amount_carries_its_currency_zar_unless_given() -> None:
    assert validate_new_coupon("x", None, 50_00, 5, None).amount_off == zar(50_00)
    assert validate_new_coupon("x", None, 50_00, 5, None, "USD").amount_off == Money(50_00, "USD")
    assert validate_new_coupon("x", 10, None, 5, None, "JPY").amount_off is None


@pytest.mark.parametrize("currency", ["XYZ", "zar", ""])
def test_an_unknown_coupon_currency_is_refused(currency: str) -> None:
    assert refused(amount_off=100, currency=currency).error.field == "currency"
    assert refused(percent_off=10, currency=currency).error.field == "currency"


def test_a_fixed_amount_applies_only_in_its_own_currency() -> None:
    rand = Coupon("R50", None, zar(50_00), 1, 0, 0, None)
    usd = Money(100_00, "USD")
    assert rand.applies_to(zar(100_00)) and not rand.applies_to(usd)
    assert "50.00 ZAR" in rand.wrong_currency(usd) and "USD" in rand.wrong_currency(usd)
    with pytest.raises(ValueError):  # never converted, never silently taken off
        rand.discount_on(usd)


@pytest.mark.parametrize("price", [Money(10_000, "JPY"), Money(1_000, "KWD"), Money(999, "USD"), zar(999)])
def test_a_percentage_applies_in_any_currency(price: Money) -> None:
    coupon = Coupon("TEN", 10, None, 1, 0, 0, None)
    assert coupon.applies_to(price)
    assert coupon.discount_on(price) == price.amount // 10
