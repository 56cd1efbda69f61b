"""HS256 bearer tokens: issuing (for development and tests) and verifying."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import jwt

from domain.errors import AuthError, unauthenticated
from domain.viewer import Role, Viewer

ALGORITHM = "HS256"
# Tokens travel in headers and connection_init payloads; nothing legitimate is this long.
MAX_TOKEN_LENGTH = 4096


def issue_token(secret: str, sub: str, role: Role, ttl_seconds: int = 3600, email: str | None = None) -> str:
    now = int(time.time())
    claims: dict[str, object] = {"sub": sub, "role": role.value, "iat": now, "exp": now + ttl_seconds}
    if email is not None:
        claims["email"] = email
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str) -> Viewer:
    """The viewer a token names; AuthError(UNAUTHENTICATED) for anything not valid."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise unauthenticated("invalid token")
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise unauthenticated("token expired") from None
    except jwt.InvalidTokenError:
        raise unauthenticated("invalid token") from None
    sub, role, email = claims.get("sub"), claims.get("role"), claims.get("email")
    if not isinstance(sub, str) or not sub or role not in {r.value for r in Role}:
        raise unauthenticated("invalid token")
    return Viewer(
        user_id=sub,
        role=Role(role),
        email=email if isinstance(email, str) else None,
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
    )


def viewer_from_header(secret: str, header: str | None) -> Viewer | None:
    """None when no credentials were sent; a present but bad token is an error, never anonymous."""
    if header is None or not header.strip():
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("UNAUTHENTICATED", "expected 'Authorization: Bearer <token>'")
    return verify_token(secret, token.strip())
