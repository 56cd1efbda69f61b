"""The one conditional update that mirrors a provisioning job's state onto its enrollment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.enrollment import AccessStatus, EnrollmentStatus
from store.transitions import Stage, bump, literal


def access_filter(enrollment_id: str, job_revision: int) -> dict[str, Any]:
    # Workers on other instances may report out of order: only a newer job state may land.
    return {
        "_id": enrollment_id,
        "status": EnrollmentStatus.APPROVED.value,
        "$or": [
            {"access.jobRevision": {"$lt": job_revision}},
            {"access.jobRevision": {"$exists": False}},
        ],
    }


def access_update(
    status: AccessStatus,
    attempts: int,
    last_error: str | None,
    job_revision: int,
    result: Mapping[str, str],
) -> list[Stage]:
    access = {
        "status": literal(status.value),
        "attempts": attempts,
        "lastError": literal(last_error),
        "updatedAt": "$$NOW",
        "jobRevision": job_revision,
        "launchUrl": literal(result.get("launchUrl")),
        "accountId": literal(result.get("accountId")),
    }
    return bump(previousStatus="$status", access=access)
