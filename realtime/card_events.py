"""What an open course card listens to: its course's channel, and its viewer's own channel."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

from realtime.channels import course_channel, user_channel
from realtime.hub import Hub
from realtime.inbox import Gap, Inbox


@contextlib.asynccontextmanager
async def card_events(
    hub: Hub, course_id: str, user_id: str | None
) -> AsyncIterator[AsyncIterator[bytes | Gap]]:
    """The course's notices, and for a signed-in viewer their own enrollments' changes too."""
    async with contextlib.AsyncExitStack() as stack:
        course = await stack.enter_async_context(hub.subscribe(course_channel(course_id)))
        if user_id is None:
            yield course
            return
        own = await stack.enter_async_context(hub.subscribe(user_channel(user_id)))
        yield await stack.enter_async_context(contextlib.aclosing(merged(own, course)))


async def merged(main: Inbox, *others: Inbox) -> AsyncGenerator[bytes | Gap, None]:
    """Items from several inboxes as one stream, each in its own inbox's order, and only the main
    inbox's gaps: every channel of a process shares one Redis connection, so a reconnect gaps them
    all at once, and one re-read of the card answers it (two would send the card twice)."""
    inboxes = (main, *others)
    waiting: dict[asyncio.Future[bytes | Gap], Inbox] = {
        asyncio.ensure_future(anext(inbox)): inbox for inbox in inboxes
    }
    try:
        while waiting:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            # In arrival order per inbox: only one read per inbox is ever outstanding.
            for future in done:
                inbox = waiting.pop(future)
                try:
                    item = future.result()
                except StopAsyncIteration:
                    continue  # that inbox closed; the others carry on
                waiting[asyncio.ensure_future(anext(inbox))] = inbox
                if inbox is main or not isinstance(item, Gap):
                    yield item
    finally:
        for future in waiting:
            future.cancel()
