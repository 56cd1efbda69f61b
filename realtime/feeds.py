"""Event-stream subscriptions executed once per event and distinct operation, not once per socket.

A thousand admin consoles subscribed with the same document receive the same bytes, so a
`Feed` executes the selection set once per event, serializes the result once, and hands each
member socket only the shared payload, which it wraps in its own operation id. Sockets whose
operations differ (other selections, variables, audience) get feeds of their own.

Strawberry still parses, validates, limits and authorizes every subscription on its socket;
only the per-event work is shared. A feed's context is that of the first member: the admin
feed is shared by role, so fields below it may depend on the viewer's role, never on who
the admin is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Any, Protocol

from graphql import ExecutionResult, GraphQLError, GraphQLSchema, parse
from graphql.execution import Executor, execute_subscription_event

from domain.events import EnrollmentChange
from realtime import eager
from realtime.hub import Hub
from realtime.inbox import Gap, GapReason
from resolvers.errors import formatted, log_unexpected

log = logging.getLogger(__name__)

OUTBOX_SIZE = 256
RESYNC_REQUIRED = "RESYNC_REQUIRED"


def resync_required(reason: str) -> GraphQLError:
    return GraphQLError(
        f"events may have been missed ({reason}): re-read and subscribe again",
        extensions={"code": RESYNC_REQUIRED, "reason": reason},
    )


def token_expired() -> GraphQLError:
    return GraphQLError("token expired", extensions={"code": "UNAUTHENTICATED"})


class Operations(Protocol):
    """A socket's handler, which owns its operations' ids."""

    def attach(self, operation_id: str, member: Member) -> None: ...
    def release(self, operation_id: str, member: Member) -> None: ...


class LiveMetrics(Protocol):
    def subscription_opened(self, field: str) -> None: ...
    def subscription_closed(self, field: str) -> None: ...
    def frame_lag(self, field: str, seconds: float) -> None: ...


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
    send_text: Callable[[str], Coroutine[Any, Any, bool]]  # False once the socket is gone
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

    def detach(self, member: Member) -> None:
        self.detached = True  # Strawberry's `complete` is not sent: the member sends its own
        self.query, self.variables = "", None  # the feed keeps the document
        if not member.ended:  # (it may have ended already, writing its `complete`)
            self.operations.attach(self.operation_id, member)


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


class Member:
    """One subscription of a feed, written to by the feed itself: no task of its own while idle.

    A frame goes straight to the socket when nothing is queued for it; if the socket makes the
    write wait (the peer reads slowly), later frames queue behind it, up to OUTBOX_SIZE. One
    more and the member ends with RESYNC_REQUIRED, like any slow consumer.
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
        self._feeds: Feeds | None = None
        self._backlog: deque[tuple[str, float | None]] | None = None  # set while a write waits
        self._writer: asyncio.Task[None] | None = None

    def send(self, payload: str, written_at: float, now: float) -> None:
        """Writes one shared payload, or ends the member if its backlog is full."""
        if self.ended:
            return
        if now >= self._expires:
            self.end(token_expired())  # the socket's timer closes it at expiry, too
            return
        backlog = self._backlog
        if backlog is not None and len(backlog) >= OUTBOX_SIZE:
            if self._feeds is not None:
                self._feeds.dropped += len(backlog) + 1
            backlog.clear()
            self.end(resync_required(str(GapReason.OVERFLOW)))
            return
        self._write(self.sink.frame(payload), written_at)

    def end(self, error: GraphQLError | None) -> None:
        """The server ends the subscription: its error, if any, then `complete`."""
        if self.ended:
            return
        self._leave_feed()
        if error is not None:
            body = {"data": None, "errors": [formatted(error, self.request_id)]}
            self._write(self.sink.frame(json.dumps(body, separators=(",", ":"))), None)
        self._write(self.sink.complete_frame(), None)

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

    def _write(self, text: str, written_at: float | None) -> None:
        if self._backlog is not None:
            self._backlog.append((text, written_at))
            return
        try:
            sent = eager.start(self.sink.send_text(text))
        except Exception:
            log.exception("writing a frame failed")
            sent = False
        if isinstance(sent, eager.Pending):
            self._backlog = deque()
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


@dataclass(frozen=True)
class FeedSpec:
    """What a feed needs from its first member to execute for everyone."""

    schema: GraphQLSchema
    context: Any  # the first member's context; loaders are renewed per event
    renew: Callable[[Any], None]  # gives the context fresh loaders before each event
    root: Callable[[EnrollmentChange], object]
    concerns: Callable[[EnrollmentChange], bool]
    decode: Callable[[bytes], EnrollmentChange | None]


class Feed:
    def __init__(self, key: FeedKey, spec: FeedSpec, hub: Hub) -> None:
        self.key = key
        self.members: set[Member] = set()
        self._spec = spec
        self._hub = hub
        document = parse(key.query)
        variables = json.loads(key.variables)
        built = Executor.build(
            spec.schema,
            document,
            context_value=spec.context,
            raw_variable_values=variables,
            operation_name=key.operation_name,
        )
        if isinstance(built, list):  # Strawberry validated the same operation moments ago
            raise ValueError(f"operation does not build: {built}")
        self._executor = built
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"feed {key.channel}")
        self.task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        for member in list(self.members):
            # The hub stopped (the process is shutting down): complete. A failed feed's members
            # must not wait for events that will never come: they resync.
            member.end(None if error is None else resync_required(str(GapReason.OVERFLOW)))
        if error is not None:
            log.error("realtime feed for %s failed", self.key.channel, exc_info=error)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        async with self._hub.subscribe(self.key.channel) as events:
            self.ready.set()
            async for item in events:
                if isinstance(item, Gap):
                    if item.reason is GapReason.OVERFLOW:
                        for member in list(self.members):
                            member.end(resync_required(str(item.reason)))
                    continue  # a reconnection is not a gap for event streams (see subscriptions.py)
                change = self._spec.decode(item)
                if change is None or not self._spec.concerns(change):
                    continue
                payload = await self._render(change)
                written_at, now = change.at.timestamp(), loop.time()
                # A copy: a member that ends while written to leaves the set.
                for member in list(self.members):
                    member.send(payload, written_at, now)
                # Events queued in a burst would otherwise all go out before anything else runs.
                await asyncio.sleep(0)

    async def _render(self, change: EnrollmentChange) -> str:
        self._spec.renew(self._spec.context)
        result = execute_subscription_event(self._executor.build_per_event_executor(self._spec.root(change)))
        if isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            log_unexpected(list(result.errors))
            request_id = getattr(self._spec.context, "request_id", None)
            body["errors"] = [formatted(error, request_id) for error in result.errors]
        return json.dumps(body, separators=(",", ":"))


class Feeds:
    """Every feed of this process, created by the first member and ended by the last."""

    def __init__(self, hub: Callable[[], Hub], metrics: LiveMetrics | None = None) -> None:
        self._hub = hub
        self.metrics = metrics
        self._feeds: dict[FeedKey, Feed] = {}
        self.dropped = 0  # payloads dropped for members too slow to keep up, over the process's life

    def __len__(self) -> int:
        return len(self._feeds)

    async def join(self, key: FeedKey, spec: Callable[[], FeedSpec], member: Member) -> None:
        """Adds the member; once this returns, a change committed after it reaches the member."""
        feed = self._feeds.get(key)
        if feed is None or feed.task.done():
            feed = self._feeds[key] = Feed(key, spec(), self._hub())
        member.key, member._feeds = key, self
        feed.members.add(member)
        if self.metrics is not None:
            self.metrics.subscription_opened(member.field)
        try:
            await _ready(feed)
        except BaseException:
            member.leave()
            raise

    def leave(self, member: Member) -> None:
        if self.metrics is not None:
            self.metrics.subscription_closed(member.field)
        assert member.key is not None
        feed = self._feeds.get(member.key)
        if feed is None:
            return
        feed.members.discard(member)
        if not feed.members:
            del self._feeds[member.key]
            feed.task.cancel()

    def lag(self, field: str, written_at: float) -> None:
        if self.metrics is not None:
            self.metrics.frame_lag(field, time.time() - written_at)


async def _ready(feed: Feed) -> None:
    if feed.ready.is_set():
        return
    waiter = asyncio.ensure_future(feed.ready.wait())
    try:
        await asyncio.wait({waiter, feed.task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if not feed.ready.is_set():
        feed.task.result()  # re-raises whatever ended the feed before it was ready
        raise RuntimeError("feed ended before it was ready")
