"""ENROLLWIRE_RATE_LIMITS: which limits hold and how high they are.

Rules are separated by `;`, each `name=N/period` (`second`, `minute`, `hour`), or for
`ws_sockets_per_user` a plain number; a rule left out keeps its default, and `off` turns every
limit off. A mistake refuses to start, naming the setting: a typo must not silently lift a limit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

SETTING = "ENROLLWIRE_RATE_LIMITS"
PERIODS = {"second": 1, "minute": 60, "hour": 3600}


class Rule(enum.StrEnum):
    ENROLL = "enroll"  # enroll and retryPayment, per user
    GRAPHQL = "graphql"  # every GraphQL request over HTTP, per user (per IP when anonymous)
    AUTH_FAILURES = "auth_failures"  # bad or expired tokens, per IP
    WEBHOOK_BAD_SIGNATURE = "webhook_bad_signature"  # per IP; valid signed deliveries never count
    WS_HANDSHAKES = "ws_handshakes"  # per IP
    WS_SOCKETS_PER_USER = "ws_sockets_per_user"  # open sockets at once, not a rate


@dataclass(frozen=True)
class Rate:
    amount: int
    seconds: int

    def __str__(self) -> str:
        unit = next(name for name, seconds in PERIODS.items() if seconds == self.seconds)
        return f"{self.amount}/{unit}"


DEFAULT_RATES: dict[Rule, Rate] = {
    Rule.ENROLL: Rate(10, 60),
    Rule.GRAPHQL: Rate(300, 60),
    Rule.AUTH_FAILURES: Rate(20, 60),
    Rule.WEBHOOK_BAD_SIGNATURE: Rate(60, 60),
    Rule.WS_HANDSHAKES: Rate(30, 60),
}
DEFAULT_SOCKETS_PER_USER = 20


@dataclass(frozen=True)
class RateLimitRules:
    """`enabled` False: `off`, nothing is limited (nor counted)."""

    enabled: bool = True
    rates: dict[Rule, Rate] = field(default_factory=lambda: dict(DEFAULT_RATES))
    sockets_per_user: int = DEFAULT_SOCKETS_PER_USER


def parse_rules(text: str) -> RateLimitRules:
    """The rules `text` names over the defaults; ValueError naming the setting and the rule."""
    text = text.strip()
    if text.lower() == "off":
        return RateLimitRules(enabled=False)
    rates = dict(DEFAULT_RATES)
    sockets = DEFAULT_SOCKETS_PER_USER
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, equals, value = (s.strip() for s in part.partition("="))
        try:
            rule = Rule(name)
        except ValueError:
            known = ", ".join(r.value for r in Rule)
            raise ValueError(f"{SETTING}: unknown rule {name!r} (known: {known})") from None
        if not equals:
            raise ValueError(f"{SETTING}: rule {name!r} needs a value ({name}=...)")
        if rule is Rule.WS_SOCKETS_PER_USER:
            sockets = _positive(value, rule)
        else:
            rates[rule] = _rate(value, rule)
    return RateLimitRules(rates=rates, sockets_per_user=sockets)


def _rate(value: str, rule: Rule) -> Rate:
    amount, slash, period = (s.strip() for s in value.partition("/"))
    if not slash or period.lower() not in PERIODS:
        raise ValueError(f"{SETTING}: {rule}={value!r} must be N/second, N/minute or N/hour")
    return Rate(_positive(amount, rule), PERIODS[period.lower()])


def _positive(value: str, rule: Rule) -> int:
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{SETTING}: {rule} needs a whole number of at least 1, not {value!r}")
    return int(value)
