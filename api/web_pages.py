"""The browser pages: a course catalogue at `/app/`, an admin console at `/app/admin`, with
one enrollment's record at `/app/admin/enrollment?id=` and the audit log at `/app/admin/audit`.

Plain HTML, CSS and ES modules from the top-level `web/` folder, no build step; they talk
to `/graphql` like any other client. In development a sign-in endpoint mints a token for
a demo user (`sandbox.sign_in`), so the pages work without an identity provider; it exists
only with the development features (`api.safety`), whatever `ENROLLWIRE_PAGES` says.
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from sandbox.sign_in import dev_sign_in
from server.settings import Settings

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

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


def page_routes(settings: Settings) -> list[BaseRoute]:
    if not settings.pages_enabled:
        return []
    routes: list[BaseRoute] = [
        _page("/app/", "catalogue.html"),
        _page("/app/admin", "admin.html"),
        _page("/app/admin/enrollment", "enrollment.html"),
        _page("/app/admin/audit", "audit.html"),
        _page("/app/admin/enrollments", "enrollments.html"),
        _page("/app/admin/catalogue", "admin_catalogue.html"),
        _page("/app/admin/dashboard", "dashboard.html"),
        Mount("/app/static", WebFiles(directory=WEB_DIR / "static"), name="web"),
        # Where the card gateway sends the student back: the catalogue, focused on the course
        # (`?course=`), whose live card turns to Continue Course once the payment is confirmed.
        *(
            _page(f"/app/checkout/{outcome}", "catalogue.html")
            for outcome in ("success", "failure", "cancel")
        ),
    ]
    if settings.dev_features:
        routes.append(dev_sign_in(settings.token_policy))
    return routes
