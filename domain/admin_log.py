"""Admin actions on courses, coupons and jobs, and what an admin reads out, in the audit log.

A change's entry is written in the change's own write, into the changed document's audit
outbox (`AuditSource`), then copied to the log and taken out (`AuditLog.settle`); a crash in
between leaves it in the outbox for the sweep (`settle_stale`), so the entry exists if and only
if the change does, as for an enrollment's. An export changes nothing: its entry is appended.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from domain.actors import Actor
from domain.audit import AuditEntry, AuditSource
from domain.ports import AuditLog, Clock
from domain.viewer import Viewer


@dataclass(frozen=True)
class AdminLog:
    audit: AuditLog
    clock: Clock
    admin: Viewer

    def entry(self, action: str, target_id: str | None, detail: str | None) -> AuditEntry:
        # Written once, inside the change's conditional write: any unique id will do.
        entry_id = f"{action}:{target_id or '-'}:{uuid.uuid4().hex}"
        return AuditEntry(entry_id, self.clock.now(), Actor.of(self.admin), action, None, target_id, detail)

    async def settle(self, source: AuditSource, doc_id: str) -> None:
        await self.audit.settle(source, doc_id)

    async def append(self, action: str, target_id: str | None, detail: str | None) -> bool:
        """For what changes nothing (an export): the entry alone."""
        entry = self.entry(action, target_id, detail)
        return await self.audit.append(entry)
