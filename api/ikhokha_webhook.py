"""`POST /webhooks/ikhokha`: iK Pay's signed callbacks, in the generic webhook's pipeline shape.

content type (415) -> bounded read (413) -> IK-APPID / IK-SIGN (401, constant time) -> parse
(400) -> the checkout it names (404 when neither its paylinkID nor its externalTransactionID
is ours) -> the one exactly-once payment update. Answers and rejections are the generic
webhook's (`api.webhook`), so one table maps every rejection to its status.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.requests import Request

from api.state import runtime_of
from api.webhook import (
    Endpoint,
    Rejected,
    Rejection,
    SignatureLimit,
    delivery_endpoint,
    read_body,
    require_json,
)
from domain.checkouts import settle_callback
from domain.gateway import CallbackRejected
from domain.payments import PaymentOutcome
from domain.services import Services
from integrations.ikhokha.gateway import CALLBACK_PATH
from server.settings import Settings


def ikhokha_endpoint(
    count: Callable[[str], None] = lambda outcome: None, limit_bad_signature: SignatureLimit | None = None
) -> Endpoint:
    """`count` hears every delivery's outcome, and bad signatures are limited, as the generic
    webhook's are."""

    async def process(request: Request) -> PaymentOutcome:
        runtime = runtime_of(request)
        return await _process(request, runtime.services, runtime.settings)

    if limit_bad_signature is None:
        return delivery_endpoint(process, count)
    return delivery_endpoint(process, count, limit_bad_signature)


def callback_path(settings: Settings) -> str:
    """The path of the callbackUrl we gave iK Pay, which is what it signs: behind a proxy that
    strips a prefix of the public URL, the path this request arrived at would differ."""
    return urlsplit(settings.base_url).path.rstrip("/") + CALLBACK_PATH


async def _process(request: Request, services: Services, settings: Settings) -> PaymentOutcome:
    require_json(request.headers.get("content-type"))
    body = await read_body(request)
    desk = services.desk
    try:
        callback = desk.gateway.parse_callback(callback_path(settings), request.headers, body)
    except CallbackRejected as rejected:
        code = Rejection.BAD_SIGNATURE if rejected.code == "BAD_SIGNATURE" else Rejection.MALFORMED
        raise Rejected(code, str(rejected)) from None
    return await settle_callback(desk, services.changes, callback)
