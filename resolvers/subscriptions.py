"""Subscription fields: live course cards and enrollment event streams, fed by the realtime hub.

`courseCard` is state, not history: it subscribes to its channel before reading the current
card (so no change can fall between the read and the subscription), sends that card first
(unless `sinceVersion` shows the client already has it), then one card per change. Versions
never go back: anything at or below the last version sent is dropped; a jump (a missed
event) or a hub gap makes it re-read the card from the database instead of trusting the
event. After a Redis reconnection the current card is always sent again.

`myEnrollmentUpdates` and `adminEnrollmentEvents` are history, which cannot be rebuilt
from current state. Slow-consumer policy: when a subscriber reads so slowly that its bounded
buffer overflows (events were dropped), the subscription ends with a GraphQL error whose
`extensions.code` is `RESYNC_REQUIRED`; the socket stays open, and the client re-reads what it
shows (`myEnrollments`, `pendingEnrollments`) and subscribes again. A Redis reconnection does
not end them (the contract keeps subscriptions open through an outage): changes made while
Redis was down were never published and are not replayed, so a client that must not miss
any re-reads after its own reconnects, or uses `courseCard`, which resyncs by itself.

Authorization is checked when subscribing and again for every message sent: the event must
concern the viewer (user streams) and the viewer's token must not have expired.

Over graphql-transport-ws the two event streams are executed once per event and distinct
operation and written to each socket as shared bytes (`realtime.feeds`); over the legacy
protocol each socket executes its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable

import strawberry
from graphql import GraphQLError

from domain.course import is_course_id
from domain.enrollment import Enrollment as DomainEnrollment
from domain.viewer import Viewer
from realtime.card_events import card_events
from realtime.channels import ADMIN_CHANNEL, user_channel
from realtime.course_notice import noticed_course
from realtime.envelope import decode_change
from realtime.feeds.feed import Feeds, FeedSpec
from realtime.feeds.member import Member, resync_required, token_expired
from realtime.feeds.socket import FeedKey, current_sink
from realtime.hub import Hub
from realtime.inbox import Gap, GapReason
from resolvers.context import Context, Info
from resolvers.events import EnrollmentEvent
from resolvers.loaders import Loaders
from resolvers.permissions import AdminOnly, SignedIn, require_admin, require_viewer
from resolvers.queries import load_card
from resolvers.types import CourseCard


def _written_at(item: bytes | Gap) -> float | None:
    change = None if isinstance(item, Gap) else decode_change(item)
    return None if change is None else change.at.timestamp()


def _hub(info: Info) -> Hub:
    hub = info.context.realtime
    if not isinstance(hub, Hub):
        raise RuntimeError("the realtime hub is not in the context")
    return hub


def _require_fresh_token(info: Info) -> None:
    viewer = info.context.viewer
    if viewer is not None and viewer.expires_at is not None:
        if viewer.expires_at <= info.context.services.clock.now():
            raise token_expired()


def _token_deadline(info: Info) -> float:
    """When the viewer's token expires, on the event loop's clock (cheap to compare per frame)."""
    viewer = info.context.viewer
    if viewer is None or viewer.expires_at is None:
        return float("inf")
    left = (viewer.expires_at - info.context.services.clock.now()).total_seconds()
    return asyncio.get_running_loop().time() + left


def _not_found(course_id: str) -> GraphQLError:
    named = repr(course_id) if is_course_id(course_id) else "with that id"  # never echo a megabyte
    return GraphQLError(f"no course {named}", extensions={"code": "NOT_FOUND"})


async def _reread(info: Info, course_id: str) -> CourseCard:
    info.context.loaders.course.clear(course_id)  # the socket's loader lives as long as the socket
    card = await load_card(info, course_id)
    if card is None:
        raise _not_found(course_id)
    return card


class CardStream:
    """The version bookkeeping of one `courseCard` subscription."""

    def __init__(self, info: Info, course_id: str, viewer: Viewer | None, card: CourseCard) -> None:
        self._info, self._course_id, self._viewer = info, course_id, viewer
        self.last = card.version
        self._enrollment_id = None if card.enrollment is None else card.enrollment.model.id

    def sent(self, card: CourseCard) -> CourseCard:
        self.last = card.version
        self._enrollment_id = None if card.enrollment is None else card.enrollment.model.id
        return card

    async def on(self, item: bytes | Gap) -> CourseCard | None:
        """The card to send for this hub item, if any."""
        if not isinstance(item, Gap) and (course_id := noticed_course(item)) is not None:
            if course_id != self._course_id:
                return None
            # The course itself changed: same enrollment, same version, new title or price.
            card = await _reread(self._info, self._course_id)
            return card if card.version >= self.last else None
        if isinstance(item, Gap):
            card = await _reread(self._info, self._course_id)
            if item.reason is GapReason.RECONNECTED:
                # Changes made during the outage were never published: resend whatever holds.
                return card if card.version >= self.last else None
            return card if card.version > self.last else None
        change = decode_change(item)
        if change is None:
            return None
        enrollment = change.enrollment
        if enrollment.course_id != self._course_id or not self._concerns_viewer(enrollment):
            return None
        if enrollment.version <= self.last:
            return None  # stale or duplicate: the client already has this or newer
        if enrollment.version > self.last + 1 or not self._shown_by_card(enrollment):
            card = await _reread(self._info, self._course_id)
            return card if card.version > self.last else None
        course = await self._info.context.loaders.course.load(self._course_id)
        if course is None or not course.published:
            raise _not_found(self._course_id)
        return CourseCard.of(course, True, enrollment)

    def _concerns_viewer(self, enrollment: DomainEnrollment) -> bool:
        return self._viewer is not None and enrollment.user_id == self._viewer.user_id

    def _shown_by_card(self, enrollment: DomainEnrollment) -> bool:
        # The card shows the active enrollment, else the latest: an event about another,
        # inactive enrollment of the same course cannot replace it without a re-read.
        return self._enrollment_id in (None, enrollment.id) or enrollment.active


@contextlib.asynccontextmanager
async def _live(info: Info, field: str) -> AsyncIterator[Feeds | None]:
    """Counts the subscription as active while it runs."""
    feeds = info.context.feeds
    metrics = None if feeds is None else feeds.metrics
    if metrics is not None:
        metrics.subscription_opened(field)
    try:
        yield feeds
    finally:
        if metrics is not None:
            metrics.subscription_closed(field)


def _observe_lag(info: Info, field: str, written_at: float | None) -> None:
    feeds = info.context.feeds
    if feeds is not None and written_at is not None:
        feeds.lag(field, written_at)


def _feed_context(info: Info) -> Context:
    # Everything but the socket itself: the feed outlives any one member.
    ctx = info.context
    return Context(
        services=ctx.services,
        loaders=Loaders(ctx.services),
        viewer=ctx.viewer,
        request_id=f"feed:{ctx.request_id}",
        max_page_size=ctx.max_page_size,
        realtime=ctx.realtime,
    )


def _renew_loaders(context: Context) -> None:
    context.loaders = Loaders(context.services)


async def _shared(
    info: Info, channel: str, audience: str, concerns_viewer: Callable[[DomainEnrollment], bool]
) -> bool:
    """Over graphql-transport-ws: hands the operation to a feed member, which writes the shared
    payloads to this socket (the resolver then returns)."""
    sink, feeds = current_sink.get(), info.context.feeds
    if sink is None or feeds is None:
        return False

    def spec() -> FeedSpec:
        return FeedSpec(
            schema=info.schema._schema,
            context=_feed_context(info),
            renew=_renew_loaders,
            root=EnrollmentEvent.of,
            concerns=lambda change: concerns_viewer(change.enrollment),
        )

    member = Member(sink, info.field_name, _token_deadline(info), info.context.request_id)
    await feeds.join(FeedKey.of(channel, audience, sink), spec, member)
    member.take_over()
    return True


async def _event_stream(
    info: Info, channel: str, audience: str, concerns_viewer: Callable[[DomainEnrollment], bool]
) -> AsyncGenerator[EnrollmentEvent, None]:
    async with _hub(info).subscribe(channel) as events:
        async for item in events:
            if isinstance(item, Gap):
                if item.reason is GapReason.RECONNECTED:
                    continue
                raise resync_required(str(item.reason))
            change = decode_change(item)
            if change is None or not concerns_viewer(change.enrollment):
                continue
            _require_fresh_token(info)
            yield EnrollmentEvent.of(change)
            _observe_lag(info, info.field_name, change.at.timestamp())


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The viewer's live card; the first message is the current state (skipped "
        "when sinceVersion is given and nothing is newer). version never goes back."
    )
    async def course_card(
        self, info: Info, course_id: strawberry.ID, since_version: int | None = None
    ) -> AsyncGenerator[CourseCard, None]:
        cid = str(course_id)
        if not is_course_id(cid):
            # Before anything is subscribed or loaded: a malformed id names no course.
            raise _not_found(cid)
        viewer = info.context.viewer
        # Subscribed before reading, so a change committed meanwhile arrives as an event.
        async with (
            _live(info, "courseCard"),
            card_events(_hub(info), cid, None if viewer is None else viewer.user_id) as events,
        ):
            card = await load_card(info, cid)
            if card is None:
                raise _not_found(cid)
            stream = CardStream(info, cid, viewer, card)
            if since_version is None or card.version > since_version:
                _require_fresh_token(info)
                yield stream.sent(card)
            async for item in events:
                fresh = await stream.on(item)
                if fresh is not None:
                    _require_fresh_token(info)
                    yield stream.sent(fresh)
                    _observe_lag(info, "courseCard", _written_at(item))

    @strawberry.subscription(permission_classes=[SignedIn], description="Every change to my enrollments.")
    async def my_enrollment_updates(self, info: Info) -> AsyncGenerator[EnrollmentEvent, None]:
        user_id = require_viewer(info).user_id

        def mine(enrollment: DomainEnrollment) -> bool:
            return enrollment.user_id == user_id

        if await _shared(info, user_channel(user_id), user_id, mine):
            return
        stream = _event_stream(info, user_channel(user_id), user_id, mine)
        async with _live(info, "myEnrollmentUpdates"), contextlib.aclosing(stream):
            async for event in stream:
                yield event

    @strawberry.subscription(
        permission_classes=[AdminOnly], description="Admins: every CREATED and every change, for all users."
    )
    async def admin_enrollment_events(self, info: Info) -> AsyncGenerator[EnrollmentEvent, None]:
        viewer = require_admin(info)
        if await _shared(info, ADMIN_CHANNEL, str(viewer.role), lambda e: True):
            return
        stream = _event_stream(info, ADMIN_CHANNEL, str(viewer.role), lambda e: True)
        async with _live(info, "adminEnrollmentEvents"), contextlib.aclosing(stream):
            async for event in stream:
                yield event
