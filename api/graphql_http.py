"""GraphQL over HTTP as the spec has it: the response media type and the status codes it implies.

A client that accepts `application/graphql-response+json` (the spec's media type) gets it, and with
it a status code that says whether the document ran: a request error (the document does not parse
or validate, its variables do not coerce, its operation is not found) is a 4xx with no `data`
entry. Every other client gets `application/json` and HTTP 200, as before the spec existed.
"""

from __future__ import annotations

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from strawberry.types import ExecutionResult

from api.documents import Resolved

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
# Request errors that mean something other than a bad request: the client's credentials.
STATUS_BY_CODE = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403}
# Apollo's clients give up on persisted queries after a 400 or 500, and this one asks for the
# full document instead: it keeps HTTP 200 with either media type, as Apollo Server answers it.
RETRY_WITH_DOCUMENT = "PERSISTED_QUERY_NOT_FOUND"
# How long a CDN (or a browser) may reuse a public answer: a course published or re-priced shows
# within this, and anonymous catalogue traffic reaches the server about once per this per edge.
PUBLIC_MAX_AGE_SECONDS = 30
PUBLIC = {
    "Cache-Control": f"public, max-age={PUBLIC_MAX_AGE_SECONDS}",
    # Credentials or another media type must never be answered from this copy.
    "Vary": "Accept, Authorization",
}
NOT_STORED = {"Cache-Control": "private, no-store"}


def accepted_quality(accept: str, media_type: str) -> float:
    """The `q` the Accept header gives `media_type` (0 when it does not name it)."""
    best = 0.0
    for entry in accept.split(","):
        name, *parameters = (part.strip() for part in entry.split(";"))
        if name.lower() != media_type:
            continue
        quality = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        best = max(best, quality)
    return best


def wants_graphql_response(request: Request) -> bool:
    """The spec's media type when the client prefers it (or accepts it at least as much as JSON).

    No Accept header, `*/*` or `application/json` alone: JSON, so existing clients see no change."""
    accept = request.headers.get("accept", "")
    preferred = accepted_quality(accept, GRAPHQL_RESPONSE_JSON)
    return preferred > 0 and preferred >= accepted_quality(accept, JSON)


def request_error_status(errors: list[GraphQLError]) -> int:
    """The status of a response whose document did not run (no `data`), for the spec's media type."""
    return status_for_codes({(error.extensions or {}).get("code") for error in errors})


def status_for_codes(codes: set[object]) -> int:
    if RETRY_WITH_DOCUMENT in codes:
        return 200
    for code, status in STATUS_BY_CODE.items():
        if code in codes:
            return status
    return 400


def is_request_error(result: ExecutionResult) -> bool:
    """Nothing ran: no data and no error from a field (field errors carry a path).

    A field error that nulls the whole `data` still ran the document: that stays 200 with
    `"data": null`, as the spec says."""
    errors = result.errors or []
    return result.data is None and bool(errors) and all(e.path is None for e in errors)


def as_graphql_response(response: Response, status: int | None) -> Response:
    """Re-labels a JSON response the view built, with the status the document's outcome implies."""
    response.headers["content-type"] = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
    if status is not None:
        response.status_code = status
    return response


def cache_headers(
    request: Request, response: Response, resolved: Resolved | None, clean: bool
) -> dict[str, str]:
    """A GET may be cached by anyone only when nothing in it depends on who asks: a public document
    named by its hash (the URL is short and stable), no credentials, and an answer without errors.
    Every other GET says so too, so no cache between us and the client keeps a viewer's answer."""
    if request.method != "GET":
        return {}
    public = (
        resolved is not None
        and resolved.by_hash
        and resolved.public
        and clean
        and response.status_code == 200
        and "authorization" not in request.headers
    )
    return PUBLIC if public else NOT_STORED
