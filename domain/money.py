"""Money in minor units of its currency; never a float.

How many minor units make a major one is the currency's ISO 4217 exponent: 100 cents to the
rand or dollar, but no minor unit for the yen and 1000 fils to the Kuwaiti dinar. The school
prices only in the currencies listed here: any other code is refused where one is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from domain.errors import DomainError, ErrorCode

# ISO 4217 code -> minor-unit exponent.
CURRENCY_EXPONENTS: Mapping[str, int] = MappingProxyType(
    {
        # The school's own and its neighbours' (the loti, lilangeni and Namibian dollar are at par).
        "ZAR": 2,
        "BWP": 2,
        "LSL": 2,
        "NAD": 2,
        "SZL": 2,
        "MZN": 2,
        "ZMW": 2,
        "KES": 2,
        "NGN": 2,
        # Where students abroad pay from.
        "USD": 2,
        "EUR": 2,
        "GBP": 2,
        "AUD": 2,
        "CAD": 2,
        "CHF": 2,
        "NZD": 2,
        "INR": 2,
        "JPY": 0,
        "KRW": 0,
        "KWD": 3,
        "BHD": 3,
        "OMR": 3,
        "JOD": 3,
    }
)
DEFAULT_CURRENCY = "ZAR"


def is_currency(code: str) -> bool:
    return code in CURRENCY_EXPONENTS


def validate_currency(code: str, field: str = "currency") -> str:
    """`code` if the school prices in it; otherwise VALIDATION_FAILED on `field`."""
    if not is_currency(code):
        raise DomainError.of(
            ErrorCode.VALIDATION_FAILED,
            "currency must be an ISO 4217 code the school prices in: "
            + ", ".join(sorted(CURRENCY_EXPONENTS)),
            field,
        )
    return code


def exponent(currency: str) -> int:
    """Minor-unit digits of `currency`; 2 (the commonest) for one outside the table, which only
    money stored before the table existed can carry: shown as best we can rather than failing a page."""
    return CURRENCY_EXPONENTS.get(currency, 2)


@dataclass(frozen=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if self.amount < 0:
            raise ValueError("money is never negative")

    def minus(self, amount: int) -> Money:
        """Subtract, flooring at zero: a discount never makes a price negative."""
        return Money(max(0, self.amount - amount), self.currency)


def major_units(money: Money) -> str:
    """The amount in major units with exactly the currency's minor digits: "129.00", "1000", "1.234"."""
    digits = exponent(money.currency)
    if digits == 0:
        return str(money.amount)
    whole, minor = divmod(money.amount, 10**digits)
    return f"{whole}.{minor:0{digits}d}"


def format_money(money: Money) -> str:
    """For people: "129.00 ZAR", "1000 JPY", "1.234 KWD"."""
    return f"{major_units(money)} {money.currency}"
