"""`GET /admin/enrollments.csv`: the admin search's matches as a streamed CSV download.

Same filter as the GraphQL `enrollments(filter:)`, as query parameters. 401 without valid
credentials, 403 for anyone but an admin, 400 for a bad filter; nothing is read before those.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from api.auth import viewer_from_header
from api.state import runtime_of
from domain.admin_log import AdminLog
from domain.enrollment import EnrollmentStatus, PaymentMethod
from domain.enrollment_filter import EnrollmentFilter, enrollment_filter
from domain.errors import AuthError, DomainError, ErrorCode
from domain.export import export_csv

PARAMETERS = frozenset(
    {"status", "courseId", "userId", "email", "paymentReference", "paymentMethod", "createdFrom", "createdTo"}
)


def _problem(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _bad(field: str, message: str) -> DomainError:
    return DomainError.of(ErrorCode.VALIDATION_FAILED, message, field)


def _time(params: dict[str, str], name: str) -> datetime | None:
    if name not in params:
        return None
    try:
        return datetime.fromisoformat(params[name].replace("Z", "+00:00"))
    except ValueError:
        raise _bad(name, f"{name} must be an ISO 8601 date-time") from None


E = TypeVar("E", EnrollmentStatus, PaymentMethod)


def _choice(kind: type[E], params: dict[str, str], name: str) -> E | None:
    if name not in params:
        return None
    try:
        return kind(params[name])
    except ValueError:
        raise _bad(name, f"{name} must be one of {', '.join(kind)}") from None


def filter_of(request: Request) -> EnrollmentFilter:
    params = dict(request.query_params)
    unknown = sorted(set(params) - PARAMETERS)
    if unknown or len(request.query_params.multi_items()) != len(params):
        raise _bad(unknown[0] if unknown else "query", "unknown or repeated query parameter")
    return enrollment_filter(
        status=_choice(EnrollmentStatus, params, "status"),
        course_id=params.get("courseId"),
        user_id=params.get("userId"),
        email=params.get("email"),
        payment_reference=params.get("paymentReference"),
        payment_method=_choice(PaymentMethod, params, "paymentMethod"),
        created_from=_time(params, "createdFrom"),
        created_to=_time(params, "createdTo"),
    )


async def enrollments_csv(request: Request) -> Response:
    runtime = runtime_of(request)
    try:
        viewer = viewer_from_header(runtime.settings.token_policy, request.headers.get("authorization"))
    except AuthError as denied:
        return _problem(401, denied.code, str(denied))
    if viewer is None:
        return _problem(401, "UNAUTHENTICATED", "sign in required")
    if not viewer.is_admin:
        return _problem(403, "FORBIDDEN", "admins only")
    try:
        where = filter_of(request)
    except DomainError as bad:
        return _problem(400, bad.error.code.value, bad.error.message)
    services = runtime.services
    log = AdminLog(services.audit, services.clock, viewer)
    rows = await export_csv(services.enrollments, services.courses, log, where)
    stamp = services.clock.now().strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        (piece.encode("utf-8") async for piece in rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="enrollments-{stamp}.csv"'},
    )
