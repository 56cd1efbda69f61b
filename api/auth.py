"""HS256 bearer tokens: issuing (for development and tests) and verifying."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import jwt

from domain.errors import AuthError, unauthenticated
from domain.viewer import Role, Viewer

ALGORITHM = "HS256"
# Tokens travel in headers and connection_init payloads; nothing legitimate is this long.
MAX_TOKEN_LENGTH = 4096
DEFAULT_MAX_TTL_SECONDS = 24 * 3600
# Clocks of the issuer and of this server disagree a little.
LEEWAY_SECONDS = 60
ROLES = frozenset(r.value for r in Role)
# Viewers of verified tokens kept per policy: a few per signed-in user and device.
VERIFIED_TOKENS = 4096


class VerifiedTokens:
    """Tokens already verified and the viewer each names, kept until the token's own `exp`.

    A request whose token was verified moments ago skips the signature and the claims (~40 µs).
    Bounded (least recently used out) and never serving a token at or past its `exp`: from
    then on the token goes through `verify_token` again, which refuses it once the leeway too is
    spent. Only tokens that passed every check get in, so the cache cannot be filled with junk.
    """

    def __init__(self, maxsize: int = VERIFIED_TOKENS) -> None:
        self._entries: OrderedDict[str, tuple[float, Viewer]] = OrderedDict()
        self._maxsize = maxsize
        self.hits = self.misses = 0

    def get(self, token: str, now: float) -> Viewer | None:
        entry = self._entries.get(token)
        if entry is None or now >= entry[0]:
            if entry is not None:
                del self._entries[token]
            self.misses += 1
            return None
        self._entries.move_to_end(token)
        self.hits += 1
        return entry[1]

    def put(self, token: str, exp: float, viewer: Viewer, now: float) -> None:
        if now >= exp:
            return  # accepted within the leeway: verified again each time, never kept
        self._entries[token] = (exp, viewer)
        if len(self._entries) > self._maxsize:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class TokenPolicy:
    """What a token must be to be believed: signed with `secret`, naming `issuer` and `audience`
    when those are configured, living at most `max_ttl_seconds`."""

    secret: str
    issuer: str | None = None
    audience: str | None = None
    max_ttl_seconds: int = DEFAULT_MAX_TTL_SECONDS
    verified: VerifiedTokens = field(default_factory=VerifiedTokens, compare=False, repr=False)
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)


def issue_token(
    secret: str | TokenPolicy,
    sub: str,
    role: Role,
    ttl_seconds: int = 3600,
    email: str | None = None,
) -> str:
    policy = TokenPolicy(secret) if isinstance(secret, str) else secret
    now = int(time.time())
    claims: dict[str, object] = {"sub": sub, "role": role.value, "iat": now, "exp": now + ttl_seconds}
    if email is not None:
        claims["email"] = email
    if policy.issuer is not None:
        claims["iss"] = policy.issuer
    if policy.audience is not None:
        claims["aud"] = policy.audience
    return jwt.encode(claims, policy.secret, algorithm=ALGORITHM)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def verify_token(secret: str | TokenPolicy, token: str) -> Viewer:
    """The viewer a token names; AuthError(UNAUTHENTICATED) for anything not valid, never another
    exception: a validly signed token may still carry claims of any JSON type."""
    policy = TokenPolicy(secret) if isinstance(secret, str) else secret
    if len(token) > MAX_TOKEN_LENGTH:
        raise unauthenticated("invalid token")
    now = policy.clock()
    cached = policy.verified.get(token, now)
    if cached is not None:
        return cached
    viewer, exp = _verified(policy, token, now)
    policy.verified.put(token, exp, viewer, now)
    return viewer


def _verified(policy: TokenPolicy, token: str, now: float) -> tuple[Viewer, float]:
    required = ["exp", "sub", *(["iss"] if policy.issuer else []), *(["aud"] if policy.audience else [])]
    try:
        claims = jwt.decode(
            token,
            policy.secret,
            algorithms=[ALGORITHM],
            issuer=policy.issuer,
            audience=policy.audience,
            leeway=LEEWAY_SECONDS,
            # `exp` is checked below against the policy's clock, the one the cache uses too.
            options={"require": required, "verify_exp": False},
        )
    except (jwt.InvalidTokenError, TypeError, ValueError, ArithmeticError):
        raise unauthenticated("invalid token") from None
    sub, role, email, exp, iat = (claims.get(k) for k in ("sub", "role", "email", "exp", "iat"))
    if not isinstance(sub, str) or not sub or not isinstance(role, str) or role not in ROLES:
        raise unauthenticated("invalid token")
    if not _number(exp) or not (iat is None or _number(iat)) or not (email is None or isinstance(email, str)):
        raise unauthenticated("invalid token")
    assert isinstance(exp, int | float)
    if exp <= now - LEEWAY_SECONDS:
        raise unauthenticated("token expired")
    started = iat if isinstance(iat, int | float) else now
    if exp - started > policy.max_ttl_seconds + LEEWAY_SECONDS:
        raise unauthenticated("token lifetime exceeds the maximum")
    try:
        expires_at = datetime.fromtimestamp(exp, UTC)
    except (ValueError, ArithmeticError, OSError):
        raise unauthenticated("invalid token") from None
    return Viewer(user_id=sub, role=Role(role), email=email, expires_at=expires_at), exp


def viewer_from_header(secret: str | TokenPolicy, header: str | None) -> Viewer | None:
    """None when no credentials were sent; a present but bad token is an error, never anonymous."""
    if header is None or not header.strip():
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("UNAUTHENTICATED", "expected 'Authorization: Bearer <token>'")
    return verify_token(secret, token.strip())
