"""The browser pages: a course catalogue at `/app/`, an admin console at `/app/admin`.

Plain HTML, CSS and ES modules from the top-level `web/` folder, no build step; they talk
to `/graphql` like any other client. In development a sign-in endpoint mints a token for
a demo user, so the pages work without an identity provider; it exists only with the
development features (`api.safety`), whatever `ENROLLWIRE_PAGES` says.
"""

from __future__ import annotations

import json
import os
from os import PathLike
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from api.auth import TokenPolicy, issue_token
from api.demo import DEMO_ADMIN, DEMO_STUDENT
from api.limits import BodyTooLarge, read_bounded
from api.settings import Settings
from domain.viewer import Role

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
SIGN_IN_TTL_SECONDS = 8 * 3600
MAX_SIGN_IN_BYTES = 1024
DEMO_USERS = {
    Role.STUDENT: (DEMO_STUDENT, "student@example.com"),
    Role.ADMIN: (DEMO_ADMIN, "admin@example.com"),
}

# Same-origin everything: the pages load only their own files and talk only to this server.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Revalidate on every load (cheap with the ETag), so an edited file shows up at once.
NO_CACHE = {"Cache-Control": "no-cache"}


class WebFiles(StaticFiles):
    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(NO_CACHE)
        return response


def _page(url: str, file: str) -> Route:
    path = WEB_DIR / file

    async def endpoint(request: Request) -> Response:
        return FileResponse(path, headers={**NO_CACHE, "Content-Security-Policy": CONTENT_SECURITY_POLICY})

    return Route(url, endpoint, methods=["GET", "HEAD"])


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
        except ValueError:
            return _error(400, "MALFORMED", "the body is not JSON")
        role = body.get("role") if isinstance(body, dict) else None
        if role not in {r.value for r in Role}:
            return _error(400, "MALFORMED", 'expected {"role": "student"} or {"role": "admin"}')
        user, email = DEMO_USERS[Role(role)]
        token = issue_token(tokens, user, Role(role), SIGN_IN_TTL_SECONDS, email)
        return JSONResponse({"token": token, "userId": user, "role": role, "expiresIn": SIGN_IN_TTL_SECONDS})

    return Route("/app/dev/sign-in", endpoint, methods=["POST"])


def page_routes(settings: Settings) -> list[BaseRoute]:
    if not settings.pages_enabled:
        return []
    routes: list[BaseRoute] = [
        _page("/app/", "catalogue.html"),
        _page("/app/admin", "admin.html"),
        Mount("/app/static", WebFiles(directory=WEB_DIR / "static"), name="web"),
    ]
    if settings.dev_features:
        routes.append(dev_sign_in(settings.token_policy))
    return routes
