"""Money in minor units (cents); never a float."""

from __future__ import annotations

from dataclasses import dataclass


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
