"""Development sign-in for the browser pages: a token for a demo user, no identity provider."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.auth import TokenPolicy, issue_token
from api.limits import BodyTimedOut, BodyTooLarge, read_bounded
from domain.viewer import Role
from sandbox.demo import DEMO_ADMIN, DEMO_STUDENT

SIGN_IN_TTL_SECONDS = 8 * 3600
MAX_SIGN_IN_BYTES = 1024
DEMO_USERS = {
    Role.STUDENT: (DEMO_STUDENT, "student@example.com"),
    Role.ADMIN: (DEMO_ADMIN, "admin@example.com"),
}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def dev_sign_in(tokens: TokenPolicy) -> Route:
    """`POST /app/dev/sign-in {"role": "student"|"admin"}` -> a token for that demo user."""

    async def endpoint(request: Request) -> Response:
        # JSON only: a cross-site form cannot send it without a CORS preflight we never grant.
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _error(415, "UNSUPPORTED_MEDIA_TYPE", "send application/json")
        try:
            body = json.loads(await read_bounded(request.receive, MAX_SIGN_IN_BYTES))
        except BodyTooLarge:
            return _error(413, "TOO_LARGE", f"at most {MAX_SIGN_IN_BYTES} bytes")
        except BodyTimedOut:
            return _error(408, "REQUEST_TIMEOUT", "the body did not arrive in time")
        except ValueError:
            return _error(400, "MALFORMED", "the body is not JSON")
        role = body.get("role") if isinstance(body, dict) else None
        if role not in {r.value for r in Role}:
            return _error(400, "MALFORMED", 'expected {"role": "student"} or {"role": "admin"}')
        user, email = DEMO_USERS[Role(role)]
        token = issue_token(tokens, user, Role(role), SIGN_IN_TTL_SECONDS, email)
        return JSONResponse({"token": token, "userId": user, "role": role, "expiresIn": SIGN_IN_TTL_SECONDS})

    return Route("/app/dev/sign-in", endpoint, methods=["POST"])
