"""One subscription of a feed: it owns its operation once the resolver hands it over."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Protocol

from graphql import GraphQLError

from realtime import eager
from realtime.buffer import BoundedBuffer
from realtime.feeds.socket import FeedKey, Sink
from realtime.inbox import GapReason

log = logging.getLogger(__name__)

RESYNC_REQUIRED = "RESYNC_REQUIRED"


def resync_required(reason: str) -> GraphQLError:
    return GraphQLError(
        f"events may have been missed ({reason}): re-read and subscribe again",
        extensions={"code": RESYNC_REQUIRED, "reason": reason},
    )


def token_expired() -> GraphQLError:
    return GraphQLError("token expired", extensions={"code": "UNAUTHENTICATED"})


class ErrorPolicy(Protocol):
    """How GraphQL errors reach a client (`resolvers.errors`): visible as they are, or masked."""

    def format(self, error: GraphQLError, request_id: str | None) -> dict[str, Any]: ...
    def log_unexpected(self, errors: list[GraphQLError]) -> None: ...


class Membership(Protocol):
    """The feeds a member belongs to: told when it leaves, counting its drops and lag."""

    dropped: int
    errors: ErrorPolicy

    def leave(self, member: Member) -> None: ...
    def lag(self, field: str, written_at: float) -> None: ...


class Member:
    """One subscription of a feed, written to by the feed itself: no task of its own while idle.

    A frame goes straight to the socket when nothing is queued for it; if the socket makes the
    write wait (the peer reads slowly), later frames queue behind it in a bounded buffer; when it
    overflows the member ends with RESYNC_REQUIRED, like any slow consumer.
    """

    __slots__ = (
        "_backlog",
        "_expires",
        "_feeds",
        "_writer",
        "ended",
        "field",
        "key",
        "request_id",
        "sink",
    )

    def __init__(self, sink: Sink, field: str, expires: float, request_id: str | None) -> None:
        self.sink = sink
        self.field = field
        self.request_id = request_id
        self.ended = False
        self.key: FeedKey | None = None
        self._expires = expires  # the token's expiry on the loop's clock
        self._feeds: Membership | None = None
        self._backlog: BoundedBuffer[tuple[str, float | None]] | None = None  # set while a write waits
        self._writer: asyncio.Task[None] | None = None

    def send(self, payload: str, written_at: float, now: float) -> None:
        """Writes one shared payload, or ends the member if its backlog is full."""
        if self.ended:
            return
        if now >= self._expires:
            self.end(token_expired())  # the socket's timer closes it at expiry, too
            return
        self._write(self.sink.frame(payload), written_at)

    def take_over(self) -> None:
        """The resolver hands its operation over: this member writes its frames and its `complete`."""
        sink = self.sink
        sink.detached = True  # Strawberry's `complete` is not sent: the member sends its own
        sink.query, sink.variables = "", None  # the feed keeps the document
        if not self.ended:  # (it may have ended already, writing its `complete`)
            sink.operations.attach(sink.operation_id, self)

    def end(self, error: GraphQLError | None) -> None:
        """The server ends the subscription: its error, if any, then `complete`."""
        if self.ended:
            return
        self._leave_feed()
        if error is not None:
            shown = (
                dict(error.formatted)
                if self._feeds is None
                else self._feeds.errors.format(error, self.request_id)
            )
            body = {"data": None, "errors": [shown]}
            self._write(self.sink.frame(json.dumps(body, separators=(",", ":"))), None, final=True)
        self._write(self.sink.complete_frame(), None, final=True)

    def leave(self) -> None:
        """The client ended it, or its socket is gone: nothing more is written."""
        self._leave_feed()
        if self._writer is not None:
            self._writer.cancel()
        self._backlog = None

    def _leave_feed(self) -> None:
        # The handler forgets the operation before its `complete` is written, as Strawberry does,
        # so the client may reuse the id as soon as it reads it.
        if not self.ended:
            self.ended = True
            if self._feeds is not None:
                self._feeds.leave(self)
            self.sink.operations.release(self.sink.operation_id, self)

    def _write(self, text: str, written_at: float | None, final: bool = False) -> None:
        backlog = self._backlog
        if backlog is not None:
            if final:
                backlog.append_final((text, written_at))
            elif (dropped := backlog.offer((text, written_at))) is not None:
                if self._feeds is not None:
                    self._feeds.dropped += len(dropped) + 1
                self.end(resync_required(str(GapReason.OVERFLOW)))
            return
        try:
            sent = eager.start(self.sink.send_text(text))
        except Exception:
            log.exception("writing a frame failed")
            sent = False
        if isinstance(sent, eager.Pending):
            self._backlog = BoundedBuffer()
            self._writer = asyncio.create_task(self._drain(sent, written_at))
        else:
            self._sent(sent, written_at)

    async def _drain(self, pending: eager.Pending, written_at: float | None) -> None:
        try:
            sent = await pending.finish()
            self._sent(sent, written_at)
            while sent and self._backlog:
                text, written_at = self._backlog.popleft()
                sent = await self.sink.send_text(text)
                self._sent(sent, written_at)
        except Exception:
            log.exception("writing a frame failed")
            self.leave()
        finally:
            self._backlog = None
            self._writer = None

    def _sent(self, sent: bool, written_at: float | None) -> None:
        if not sent:
            self.leave()  # the socket is gone; its handler forgets the operation when it closes
        elif written_at is not None and self._feeds is not None:
            self._feeds.lag(self.field, written_at)
