"""The typed request context every resolver reads, and the `Info` alias."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from domain.errors import AuthError
from domain.services import Services
from domain.viewer import Viewer
from realtime.feeds.feed import Feeds
from resolvers.loaders import Loaders


@dataclass
class Context:
    services: Services
    loaders: Loaders
    viewer: Viewer | None = None
    auth_error: AuthError | None = None
    request_id: str = ""
    max_page_size: int = 100
    request: Request | WebSocket | None = None
    response: Response | None = None
    # Strawberry fills this with the WebSocket connection_init payload; without the field
    # WebSocket auth would silently see nothing.
    connection_params: dict[str, Any] | None = None
    realtime: Any = None
    feeds: Feeds | None = None
    extras: dict[str, Any] = field(default_factory=dict)


Info: TypeAlias = StrawberryInfo[Context, None]
