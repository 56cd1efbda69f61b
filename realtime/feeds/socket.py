"""What a socket's handler gives the feed: a `Sink` per operation, and the frame writers behind it."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

# The ASGI scope extension under which the uvicorn protocol offers its fast send.
FAST_SEND: Final = "enrollwire.websocket.send_text"


class FastSend(Protocol):
    """Writes one text frame at once, bypassing the ASGI path; None when the socket is not open
    and writable (the caller then sends through ASGI, which knows why)."""

    def __call__(self, text: str, /) -> bool | None: ...


# Writes one text frame; False once the socket is gone.
SendText = Callable[[str], Coroutine[Any, Any, bool]]


class Operations(Protocol):
    """A socket's handler, which owns its operations' ids."""

    def attach(self, operation_id: str, member: Any) -> None: ...
    def release(self, operation_id: str, member: Any) -> None: ...


@dataclass(slots=True)
class Sink:
    """A graphql-transport-ws operation that lets its resolver write `next` frames itself.

    A resolver that `detach`es a member hands the operation over to it: the resolver returns,
    Strawberry's operation task (and all it holds) ends without completing the operation, and
    the member writes its frames, and its `complete`, until it ends or the client stops it.
    """

    operation_id: str
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    send_text: SendText
    operations: Operations
    detached: bool = False
    prefix: str = field(init=False)

    def __post_init__(self) -> None:
        # Computed once, not once per frame.
        self.prefix = f'{{"id":{json.dumps(self.operation_id)},"type":"next","payload":'

    def frame(self, payload: str) -> str:
        return f"{self.prefix}{payload}}}"

    def complete_frame(self) -> str:
        return json.dumps({"id": self.operation_id, "type": "complete"})


# Set by the WebSocket handler around each `subscribe` message; the operation's task inherits it.
current_sink: ContextVar[Sink | None] = ContextVar("enrollwire_sink", default=None)


@dataclass(frozen=True, slots=True)
class FeedKey:
    channel: str
    audience: str  # the user id on a user's channel, the role on the admins' channel
    query: str
    operation_name: str | None
    variables: str

    @classmethod
    def of(cls, channel: str, audience: str, sink: Sink) -> FeedKey:
        variables = json.dumps(sink.variables or {}, sort_keys=True, separators=(",", ":"))
        return cls(channel, audience, sink.query, sink.operation_name, variables)
