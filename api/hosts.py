"""The Host allowlist, the defence against DNS rebinding: a page on another site whose name
resolves to this server still sends its own name in `Host`, and is answered 400."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# Liveness says nothing and probes address an instance by its own IP: any Host may ask.
OPEN_PATHS = frozenset({"/healthz"})


class HostCheck:
    """Starlette's `TrustedHostMiddleware` for every route but liveness."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        self._app = app
        self._checked = TrustedHostMiddleware(app, allowed_hosts=list(allowed_hosts), www_redirect=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in OPEN_PATHS:
            await self._app(scope, receive, send)
        else:
            await self._checked(scope, receive, send)
