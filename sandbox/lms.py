"""Development stand-ins for the learning platform and the notification service.

`POST /sandbox/lms` and `POST /sandbox/notify` answer 200 and remember the call, so a
newcomer running `make run` sees provisioning happen; `GET` on either lists the recent
calls (student ids and e-mails: admins only). The LMS answers as a real one would, with the
student's `accountId` and a `launchUrl` (a page of its own, `GET /sandbox/lms/launch/{id}`).
`ENROLLWIRE_SANDBOX_LMS_FAIL_FIRST=N` makes the LMS answer 503 to its first N calls, to show
the retries. Bodies are read up to `MAX_BODY` and no further.
"""

from __future__ import annotations

import html
import json
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from api.auth import TokenPolicy, viewer_from_header
from api.limits import BodyTimedOut, BodyTooLarge, declared_length, read_bounded
from domain.errors import AuthError
from domain.viewer import Role
from server.settings import Settings

RECENT_CALLS = 100
MAX_BODY = 16 * 1024


class SandboxEndpoint:
    def __init__(
        self,
        name: str,
        tokens: TokenPolicy,
        fail_first: int = 0,
        answer: Callable[[Any], dict[str, Any]] | None = None,
    ) -> None:
        self.name = name
        self._answer = answer
        self._tokens = tokens
        self.calls: deque[dict[str, Any]] = deque(maxlen=RECENT_CALLS)
        self.received = 0
        self._fail_first = fail_first

    async def receive(self, request: Request) -> Response:
        try:
            length = declared_length(request.scope)
            if length is not None and length > MAX_BODY:
                raise BodyTooLarge
            body = await read_bounded(request.receive, MAX_BODY)
        except BodyTooLarge:
            return JSONResponse({"error": "body too large"}, status_code=413)
        except BodyTimedOut:
            return JSONResponse({"error": "body did not arrive in time"}, status_code=408)
        try:
            payload = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        self.received += 1
        failing = self.received <= self._fail_first
        self.calls.append(
            {
                "at": datetime.now(UTC).isoformat(),
                "idempotencyKey": request.headers.get("idempotency-key"),
                "body": payload,
                "status": 503 if failing else 200,
            }
        )
        if failing:
            return JSONResponse({"error": "sandbox failing on purpose"}, status_code=503)
        extra = {} if self._answer is None else self._answer(payload)
        return JSONResponse({"status": "ok", self.name: True, **extra})

    async def recent(self, request: Request) -> Response:
        try:
            viewer = viewer_from_header(self._tokens, request.headers.get("authorization"))
        except AuthError:
            viewer = None
        if viewer is None:
            return JSONResponse({"error": "an admin token is required"}, status_code=401)
        if viewer.role is not Role.ADMIN:
            return JSONResponse({"error": "admins only"}, status_code=403)
        return JSONResponse({"received": self.received, "calls": list(self.calls)})


def lms_answer(base_url: str) -> Callable[[Any], dict[str, Any]]:
    def answer(payload: Any) -> dict[str, Any]:
        enrollment_id = payload.get("enrollmentId") if isinstance(payload, dict) else None
        user_id = payload.get("userId") if isinstance(payload, dict) else None
        if not isinstance(enrollment_id, str) or not isinstance(user_id, str):
            return {}
        return {
            "launchUrl": f"{base_url}/sandbox/lms/launch/{quote(enrollment_id, safe='')}",
            "accountId": f"sandbox-{user_id}",
        }

    return answer


async def launch_page(request: Request) -> Response:
    """Where the sandbox LMS's launch URL leads: a page saying which enrollment it opened."""
    enrollment_id = html.escape(request.path_params["enrollment_id"])
    return HTMLResponse(
        "<!doctype html><title>Sandbox learning platform</title>"
        f"<h1>Sandbox learning platform</h1><p id=launched>Enrollment {enrollment_id}: welcome.</p>"
    )


def sandbox_job_routes(settings: Settings) -> list[Route]:
    """The routes for whichever target is not configured; none outside the sandbox."""
    if not settings.sandbox_enabled:
        return []
    routes: list[Route] = []
    if settings.lms_url is None:
        lms = SandboxEndpoint(
            "provisioned",
            settings.token_policy,
            settings.sandbox_lms_fail_first,
            lms_answer(settings.base_url),
        )
        routes += [
            Route("/sandbox/lms", lms.receive, methods=["POST"]),
            Route("/sandbox/lms", lms.recent, methods=["GET"]),
            Route("/sandbox/lms/launch/{enrollment_id}", launch_page, methods=["GET"]),
        ]
    if settings.notify_url is None:
        notify = SandboxEndpoint("notified", settings.token_policy)
        routes += [
            Route("/sandbox/notify", notify.receive, methods=["POST"]),
            Route("/sandbox/notify", notify.recent, methods=["GET"]),
        ]
    return routes
