"""Admin actions that touch no enrollment (courses, coupons, jobs) go to the audit log directly.

Written right after the action's own write, under an id unique to the action (`course:<id>`,
`coupon:<code>`, `job:<id>:<revision>`), so writing it twice inserts it once. Unlike an
enrollment's entries there is no outbox here: a crash between the two writes loses the entry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from domain.actors import Actor
from domain.audit import AuditEntry
from domain.ports import AuditLog, Clock
from domain.viewer import Viewer

# (entry id, action, target id, detail as JSON text)
Recorder = Callable[[str, str, str | None, str | None], Awaitable[object]]


def recorder(audit: AuditLog, clock: Clock, admin: Viewer) -> Recorder:
    async def record(entry_id: str, action: str, target_id: str | None, detail: str | None) -> bool:
        entry = AuditEntry(entry_id, clock.now(), Actor.of(admin), action, None, target_id, detail)
        return await audit.append(entry)

    return record
