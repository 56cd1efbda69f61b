"""The writes that end a claimed attempt: each requires the claim still held, and says what the job
then is, so nothing reads it back."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pymongo import UpdateOne

from domain.jobs import ACCESS_KINDS, Decision, Job, JobKind, JobStatus, Verdict
from store.database import Doc, stored

# Enough to see a pattern in an admin console; a job's document stays small.
ERROR_HISTORY = 20


def held_by(job: Job) -> Doc:
    # The claim is (owner, attempt): even the same worker id cannot finish an older claim.
    return {
        "_id": job.id,
        "status": JobStatus.RUNNING.value,
        "leaseOwner": job.lease_owner,
        "attempts": job.attempts,
    }


def outcome_write(job: Job, decision: Decision, now: datetime) -> tuple[UpdateOne, Job]:
    """The write recording `decision` for the claimed `job`, and the job as it will then be stored."""
    fields: Doc = {"leaseOwner": None, "leaseExpiresAt": None, "updatedAt": now}
    update: dict[str, Any] = {"$set": fields, "$inc": {"revision": 1}}
    if decision.verdict is Verdict.SUCCEEDED:
        # finishedAt: the TTL index (store.job_retention) deletes the job that long after.
        fields |= {"status": JobStatus.SUCCEEDED.value, "nextRunAt": None, "lastError": None}
        fields["finishedAt"] = now
        if decision.result is not None:
            fields["result"] = dict(decision.result)
    else:
        retry = decision.verdict is Verdict.RETRY
        fields |= {
            "status": (JobStatus.PENDING if retry else JobStatus.DEAD).value,
            "nextRunAt": now + timedelta(seconds=decision.delay) if retry else None,
            "lastError": decision.error,
        }
        entry = {"attempt": job.attempts, "error": decision.error, "at": now, "delay": decision.delay}
        update["$push"] = {"errors": {"$each": [entry], "$slice": -ERROR_HISTORY}}
    fields["accessDirty"] = _mirrors_access(job.kind)
    done = replace(
        job,
        result=fields.get("result", job.result),
        status=JobStatus(fields["status"]),
        next_run_at=stored(fields["nextRunAt"]),
        last_error=fields["lastError"],
        updated_at=now,
        lease_owner=None,
        lease_expires_at=None,
        revision=job.revision + 1,
    )
    return UpdateOne(held_by(job), update), done


def _mirrors_access(kind: JobKind) -> bool:
    return kind in ACCESS_KINDS
