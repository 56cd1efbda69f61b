"""Publishes each enrollment change to its audiences (the owner's channel and the admins'), and each
course change to the course's channel, which every open card of it listens to."""

from __future__ import annotations

import logging

from domain.events import EnrollmentChange
from realtime.channels import ADMIN_CHANNEL, course_channel, user_channel
from realtime.course_notice import course_notice
from realtime.envelope import Envelope
from realtime.hub import Hub

log = logging.getLogger(__name__)


class ChangePublisher:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    async def publish(self, change: EnrollmentChange) -> None:
        payload = Envelope(change).encode()
        enrollment = change.enrollment
        channels = (user_channel(enrollment.user_id), ADMIN_CHANNEL)
        if not await self._hub.publish_many(channels, payload):
            # The write is done; a lost push is repaired by the client's resync, not by failing it.
            log.warning(
                "realtime publish failed",
                extra={"enrollment_id": enrollment.id, "channels": channels, "version": enrollment.version},
            )

    async def course_changed(self, course_id: str) -> None:
        if not await self._hub.publish(course_channel(course_id), course_notice(course_id)):
            log.warning("realtime publish failed", extra={"course_id": course_id})
