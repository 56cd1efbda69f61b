"""The remote systems jobs call: the LMS (provision access) and the notifier (tell the student).

Each job is one POST of its body with an `Idempotency-Key` (the job id), so the remote end
dedupes a retry; `domain.jobs` classifies what came back. Further outbound clients (the
payment gateway, the mail sender) get modules of their own in this package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx

from domain.jobs import Attempt, CallResult, Job, JobKind, classify_response, network_failure
from domain.ports import Clock

# What an LMS answer may carry that is worth keeping; anything longer is not a link or an id.
KEPT_FIELDS = ("launchUrl", "accountId")
MAX_FIELD_LENGTH = 2048


class JobEndpoints:
    def __init__(self, client: httpx.AsyncClient, urls: Mapping[JobKind, str], timeout: float) -> None:
        self._client = client
        self._urls = dict(urls)
        self._timeout = httpx.Timeout(timeout)

    async def call(self, job: Job, clock: Clock, body: Mapping[str, Any] | None = None) -> Attempt:
        """POSTs `body` (the job's own by default) to the job kind's URL."""
        try:
            response = await self._client.post(
                self._urls[job.kind],
                json=job.body() if body is None else dict(body),
                headers={"Idempotency-Key": job.id},
                timeout=self._timeout,
                follow_redirects=False,
            )
        except httpx.TimeoutException as error:
            return network_failure(f"timeout ({type(error).__name__})")
        except httpx.TransportError as error:
            return network_failure(f"{type(error).__name__}: {error}")
        attempt = classify_response(response.status_code, response.headers.get("retry-after"), clock.now())
        if attempt.outcome is CallResult.SUCCESS and job.kind is JobKind.PROVISION_ACCESS:
            return Attempt(CallResult.SUCCESS, result=kept_fields(response))
        return attempt


def kept_fields(response: httpx.Response) -> dict[str, str] | None:
    """`launchUrl` (http or https only: it becomes a link in the student's page and mail) and
    `accountId` from a JSON answer; an answer without them (or not JSON) is still a success."""
    try:
        payload = response.json()
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    kept = {
        name: value
        for name in KEPT_FIELDS
        if isinstance(value := payload.get(name), str) and 0 < len(value) <= MAX_FIELD_LENGTH
    }
    if "launchUrl" in kept and not _web_link(kept["launchUrl"]):
        del kept["launchUrl"]
    return kept or None


def _web_link(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)
