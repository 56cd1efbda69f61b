"""The `Enrollwire-Signature` header: `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`.

Each `v1` is HMAC-SHA256 over `b"<t>." + raw body`; several may appear while the gateway
rotates its secret, and one match is enough. Pure functions: the clock is a parameter.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

HEADER = "Enrollwire-Signature"
TOLERANCE_SECONDS = 300
# Bounds the work an unauthenticated request can cause.
MAX_HEADER_LENGTH = 2048
MAX_SIGNATURES = 8
_HEX_LENGTH = 64
_HEX = frozenset("0123456789abcdef")


class SignatureError(Exception):
    """The header is missing, malformed, stale, or no signature matches."""


def signature(secret: str, body: bytes, t: int) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, t: int) -> str:
    """A header value the route accepts, as a gateway (or the sandbox) would send it."""
    return f"t={t},v1={signature(secret, body, t)}"


def parse(header: str) -> tuple[int, list[str]]:
    if len(header) > MAX_HEADER_LENGTH:
        raise SignatureError("signature header too long")
    timestamps: list[str] = []
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed signature header")
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            candidates.append(value.lower())
    if len(timestamps) != 1 or not _is_timestamp(timestamps[0]):
        raise SignatureError("the header needs exactly one t= of unix seconds")
    if not candidates or len(candidates) > MAX_SIGNATURES:
        raise SignatureError(f"the header needs 1-{MAX_SIGNATURES} v1= signatures")
    if any(len(c) != _HEX_LENGTH or not _HEX.issuperset(c) for c in candidates):
        raise SignatureError("a v1= signature is not 64 hex digits")
    return int(timestamps[0]), candidates


def _is_timestamp(value: str) -> bool:
    # Digits only, and short enough that arithmetic with a float clock cannot overflow.
    return 0 < len(value) <= 12 and value.isascii() and value.isdigit()


def verify(
    header: str | None,
    body: bytes,
    secrets: Sequence[str],
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """The signed timestamp when some `v1` matches some secret, else SignatureError."""
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    t, candidates = parse(header)
    if abs(now - t) > tolerance:
        raise SignatureError("signature timestamp outside the tolerance")
    matched = False
    for secret in secrets:
        expected = signature(secret, body, t)
        for candidate in candidates:
            # No early exit: every comparison runs, each in constant time.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError("no signature matches")
    return t
