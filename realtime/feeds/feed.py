"""Feeds: one per distinct operation and audience, executing each event once for all its members."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any, Protocol

from graphql import ExecutionResult, GraphQLSchema, parse
from graphql.execution import Executor, execute_subscription_event

from domain.events import EnrollmentChange
from realtime.envelope import decode_change
from realtime.feeds.member import ErrorPolicy, Member, resync_required
from realtime.feeds.socket import FeedKey
from realtime.hub import Hub
from realtime.inbox import Gap, GapReason

log = logging.getLogger(__name__)


class LiveMetrics(Protocol):
    def subscription_opened(self, field: str) -> None: ...
    def subscription_closed(self, field: str) -> None: ...
    def frame_lag(self, field: str, seconds: float) -> None: ...


@dataclass(frozen=True)
class FeedSpec:
    """What a feed needs from its first member to execute for everyone."""

    schema: GraphQLSchema
    context: Any  # the first member's context; loaders are renewed per event
    renew: Callable[[Any], None]  # gives the context fresh loaders before each event
    root: Callable[[EnrollmentChange], object]
    concerns: Callable[[EnrollmentChange], bool]


class Feed:
    def __init__(self, key: FeedKey, spec: FeedSpec, hub: Hub, errors: ErrorPolicy) -> None:
        self.key = key
        self._errors = errors
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
                change = decode_change(item)
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
            self._errors.log_unexpected(list(result.errors))
            request_id = getattr(self._spec.context, "request_id", None)
            body["errors"] = [self._errors.format(error, request_id) for error in result.errors]
        return json.dumps(body, separators=(",", ":"))


class Feeds:
    """Every feed of this process, created by the first member and ended by the last."""

    def __init__(self, hub: Hub, errors: ErrorPolicy, metrics: LiveMetrics | None = None) -> None:
        self._hub = hub
        self.errors = errors
        self.metrics = metrics
        self._feeds: dict[FeedKey, Feed] = {}
        self.dropped = 0  # payloads dropped for members too slow to keep up, over the process's life

    def __len__(self) -> int:
        return len(self._feeds)

    async def join(self, key: FeedKey, spec: Callable[[], FeedSpec], member: Member) -> None:
        """Adds the member; once this returns, a change committed after it reaches the member."""
        feed = self._feeds.get(key)
        if feed is None or feed.task.done():
            feed = self._feeds[key] = Feed(key, spec(), self._hub, self.errors)
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
