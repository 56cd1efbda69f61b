"""The verified-token cache: a token verified once is served from memory until its own `exp`,
never after; bounded; a token that failed any check never gets in."""

from __future__ import annotations

import time

import jwt
import pytest

from api.auth import LEEWAY_SECONDS, TokenPolicy, VerifiedTokens, issue_token, verify_token
from domain.errors import AuthError
from domain.viewer import Role

SECRET = "token-cache-secret-0123456789abcdef0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def policy(clock: Clock, maxsize: int = 16) -> TokenPolicy:
    return TokenPolicy(SECRET, verified=VerifiedTokens(maxsize), clock=clock)


def expiry(token: str) -> float:
    exp: float = jwt.decode(token, options={"verify_signature": False})["exp"]
    return exp


def test_a_verified_token_is_served_from_the_cache_until_its_exp() -> None:
    clock = Clock()
    tokens = policy(clock)
    token = issue_token(SECRET, "ada", Role.STUDENT, ttl_seconds=600)
    first = verify_token(tokens, token)
    clock.now = expiry(token) - 1
    assert verify_token(tokens, token) == first
    assert (tokens.verified.hits, tokens.verified.misses) == (1, 1)


def test_an_expired_token_is_refused_even_when_cached() -> None:
    clock = Clock()
    tokens = policy(clock)
    token = issue_token(SECRET, "ada", Role.STUDENT, ttl_seconds=600)
    verify_token(tokens, token)
    assert len(tokens.verified) == 1
    clock.now = expiry(token) + LEEWAY_SECONDS + 1
    with pytest.raises(AuthError, match="token expired"):
        verify_token(tokens, token)
    assert tokens.verified.hits == 0
    assert len(tokens.verified) == 0


def test_past_exp_the_cache_is_not_consulted_and_nothing_is_kept() -> None:
    """Within the issuer's clock leeway the token is still accepted, by verifying it each time."""
    clock = Clock()
    tokens = policy(clock)
    token = issue_token(SECRET, "ada", Role.STUDENT, ttl_seconds=600)
    verify_token(tokens, token)
    clock.now = expiry(token)  # at exp exactly: not served from memory any more
    assert verify_token(tokens, token).user_id == "ada"
    verify_token(tokens, token)
    assert (tokens.verified.hits, tokens.verified.misses) == (0, 3)
    assert len(tokens.verified) == 0


def test_the_cache_is_bounded_least_recently_used_out() -> None:
    clock = Clock()
    tokens = policy(clock, maxsize=2)
    a, b, c = (issue_token(SECRET, sub, Role.STUDENT) for sub in ("a", "b", "c"))
    verify_token(tokens, a)
    verify_token(tokens, b)
    verify_token(tokens, a)  # a is now the most recent
    verify_token(tokens, c)
    assert len(tokens.verified) == 2
    hits = tokens.verified.hits
    verify_token(tokens, a)
    verify_token(tokens, b)  # evicted: verified afresh
    assert tokens.verified.hits == hits + 1


def test_a_token_failing_any_check_is_never_cached() -> None:
    clock = Clock()
    tokens = policy(clock)
    forged = issue_token("another-secret-0123456789abcdef0123456789ab", "ada", Role.ADMIN)
    too_long = issue_token(SECRET, "ada", Role.STUDENT, ttl_seconds=7 * 24 * 3600)
    for token in (forged, too_long):
        for _ in range(2):
            with pytest.raises(AuthError):
                verify_token(tokens, token)
    assert len(tokens.verified) == 0
    assert tokens.verified.hits == 0
