"""Currencies the school prices in, their minor-unit exponents, and money shown to people."""

from __future__ import annotations

import pytest

from domain.course import validate_new_course
from domain.errors import DomainError, ErrorCode
from domain.money import CURRENCY_EXPONENTS, Money, format_money, is_currency, major_units, validate_currency


@pytest.mark.parametrize(
    ("currency", "digits"),
    [("ZAR", 2), ("USD", 2), ("EUR", 2), ("GBP", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3)],
)
def test_the_table_holds_iso_4217_exponents(currency: str, digits: int) -> None:
    assert CURRENCY_EXPONENTS[currency] == digits


def test_every_code_is_three_upper_case_letters_with_a_known_exponent() -> None:
    assert all(len(c) == 3 and c.isascii() and c.isupper() for c in CURRENCY_EXPONENTS)
    assert set(CURRENCY_EXPONENTS.values()) == {0, 2, 3}


@pytest.mark.parametrize(
    ("money", "shown"),
    [
        (Money(12900, "ZAR"), "129.00 ZAR"),
        (Money(5, "USD"), "0.05 USD"),
        (Money(0, "EUR"), "0.00 EUR"),
        (Money(1000, "JPY"), "1000 JPY"),
        (Money(0, "JPY"), "0 JPY"),
        (Money(1234, "KWD"), "1.234 KWD"),
        (Money(5, "BHD"), "0.005 BHD"),
        (Money(10_000_000_00, "GBP"), "10000000.00 GBP"),
    ],
)
def test_format_money_honours_the_exponent(money: Money, shown: str) -> None:
    assert format_money(money) == shown


def test_major_units_alone() -> None:
    assert (major_units(Money(1234, "KWD")), major_units(Money(1000, "JPY"))) == ("1.234", "1000")


def test_a_stored_currency_outside_the_table_still_shows_with_two_digits() -> None:
    assert format_money(Money(12345, "XTS")) == "123.45 XTS"


@pytest.mark.parametrize("code", ["ZAR", "USD", "JPY", "KWD"])
def test_known_currencies_pass(code: str) -> None:
    assert is_currency(code) and validate_currency(code) == code


@pytest.mark.parametrize("code", ["XYZ", "zar", "Zar", "RAND", "ZA", "", " ZAR", "R"])
def test_unknown_currencies_are_refused_on_the_field_named(code: str) -> None:
    assert not is_currency(code)
    with pytest.raises(DomainError) as caught:
        validate_currency(code, "price")
    assert (caught.value.error.code, caught.value.error.field) == (ErrorCode.VALIDATION_FAILED, "price")
    assert "ZAR" in caught.value.error.message


@pytest.mark.parametrize("code", ["XYZ", "zar"])
def test_a_course_in_an_unknown_currency_is_refused(code: str) -> None:
    with pytest.raises(DomainError) as caught:
        validate_new_course("c1", "Course", 100, code, True, "x")
    assert (caught.value.error.code, caught.value.error.field) == (ErrorCode.VALIDATION_FAILED, "currency")
    assert validate_new_course("c1", "Course", 100, "KWD", True, "x").price == Money(100, "KWD")
