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
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Any, Protocol

from graphql import ExecutionResult, GraphQLSchema, parse
from graphql.execution import Executor, execute_subscription_event

from domain.events import EnrollmentChange
from realtime.hub import Hub
from realtime.subscription import Gap, GapReason
from resolvers.errors import formatted, log_unexpected

log = logging.getLogger(__name__)

OUTBOX_SIZE = 256


class LiveMetrics(Protocol):
    def subscription_opened(self, field: str) -> None: ...
    def subscription_closed(self, field: str) -> None: ...
    def frame_lag(self, field: str, seconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class Sink:
    """A graphql-transport-ws operation that lets its resolver write `next` frames itself."""

    operation_id: str
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    send_text: Callable[[str], Awaitable[bool]]  # False once the socket is gone
    prefix: str = field(init=False)

    def __post_init__(self) -> None:
        # Frozen for sharing; the prefix is computed once, not once per frame.
        object.__setattr__(self, "prefix", f'{{"id":{json.dumps(self.operation_id)},"type":"next","payload":')

    def frame(self, payload: str) -> str:
        return f"{self.prefix}{payload}}}"


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


class Overflow(Exception):
    """The member could not keep up: frames were dropped and it must resync."""


class Outbox:
    """One member socket's bounded queue of shared payloads; pushing never waits."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: deque[tuple[str, float]] = deque()
        self._wakeup = asyncio.Event()
        self.overflowed = False
        self.closed = False

    def push(self, payload: str, written_at: float) -> int:
        """Queue a payload; return how many payloads were dropped to stay bounded."""
        if self.overflowed or self.closed:
            return 1
        if len(self._items) >= self._size:
            return self.overflow() + 1
        self._items.append((payload, written_at))
        self._wakeup.set()
        return 0

    def overflow(self) -> int:
        dropped = len(self._items)
        self.overflowed = True
        self._items.clear()
        self._wakeup.set()
        return dropped

    def close(self) -> None:
        self.closed = True
        self._wakeup.set()

    def __aiter__(self) -> Outbox:
        return self

    async def __anext__(self) -> tuple[str, float]:
        while not self._items:
            if self.overflowed:
                raise Overflow
            if self.closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._items.popleft()


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
        self.members: set[Outbox] = set()
        self.dropped = 0
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
        for outbox in self.members:
            if error is None:
                outbox.close()  # the hub stopped: the process is shutting down
            else:
                # Members must not wait for events that will never come: they resync.
                outbox.overflow()
        if error is not None:
            log.error("realtime feed for %s failed", self.key.channel, exc_info=error)

    async def _run(self) -> None:
        async with self._hub.subscribe(self.key.channel) as events:
            self.ready.set()
            async for item in events:
                if isinstance(item, Gap):
                    if item.reason is GapReason.OVERFLOW:
                        for outbox in self.members:
                            self.dropped += outbox.overflow()
                    continue  # a reconnection is not a gap for event streams (see subscriptions.py)
                change = self._spec.decode(item)
                if change is None or not self._spec.concerns(change):
                    continue
                payload = await self._render(change)
                written_at = change.at.timestamp()
                for outbox in self.members:
                    self.dropped += outbox.push(payload, written_at)

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
        self._dropped_by_ended = 0

    def __len__(self) -> int:
        return len(self._feeds)

    @property
    def dropped(self) -> int:
        """Payloads dropped for members too slow to keep up, over this process's life."""
        return self._dropped_by_ended + sum(feed.dropped for feed in self._feeds.values())

    @contextlib.asynccontextmanager
    async def join(self, key: FeedKey, spec: Callable[[], FeedSpec]) -> AsyncIterator[Outbox]:
        feed = self._feeds.get(key)
        if feed is None or feed.task.done():
            feed = self._feeds[key] = Feed(key, spec(), self._hub())
        outbox = Outbox(OUTBOX_SIZE)
        feed.members.add(outbox)
        try:
            # Once this returns, the channel is subscribed: a change committed after it arrives.
            await _ready(feed)
            yield outbox
        finally:
            feed.members.discard(outbox)
            if not feed.members and self._feeds.get(key) is feed:
                del self._feeds[key]
                self._dropped_by_ended += feed.dropped
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
