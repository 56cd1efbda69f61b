"""The one conditional update that mirrors an access job's state onto its enrollment.

Provisioning is shown while the enrollment is APPROVED, revocation once it is REVOKED: a
provisioning job that finishes after the revocation can never show access again. Each kind
orders its states by its own job's revision.
"""

from __future__ import annotations

from typing import Any

from domain.actors import Cause
from domain.enrollment import AccessStatus, EnrollmentStatus
from domain.jobs import Job, JobKind
from store.transitions import Stage, bump, literal, noted

_SHOWN_WHILE = {
    JobKind.PROVISION_ACCESS: (EnrollmentStatus.APPROVED, "jobRevision"),
    JobKind.REVOKE_ACCESS: (EnrollmentStatus.REVOKED, "revokeRevision"),
}


NONE_SHOWN = -1  # below every job revision


def access_filter(enrollment_id: str, kind: JobKind, job_revision: int) -> dict[str, Any]:
    # Workers on other instances may report out of order: only a newer job state may land.
    status, revision = _SHOWN_WHILE[kind]
    return {
        "_id": enrollment_id,
        "status": status.value,
        # Absent or older; one field's condition rather than `$or`, so the `_id` lookup serves it.
        f"access.{revision}": {"$not": {"$gte": job_revision}},
    }


def access_update(job: Job, status: AccessStatus, cause: Cause) -> list[Stage]:
    # Both kinds' revisions are kept: each orders its own job's states (-1: none shown yet).
    revisions = {name: {"$ifNull": [f"$access.{name}", NONE_SHOWN]} for _, name in _SHOWN_WHILE.values()}
    access = {
        "status": literal(status.value),
        "attempts": job.attempts,
        "lastError": literal(job.last_error),
        "updatedAt": "$$NOW",
        **revisions,
        _SHOWN_WHILE[job.kind][1]: job.revision,
        "launchUrl": literal((job.result or {}).get("launchUrl")),
        "accountId": literal((job.result or {}).get("accountId")),
    }
    return [*bump(previousStatus="$status", access=access), noted(cause)]
