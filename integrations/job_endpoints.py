"""The remote systems jobs call: the LMS (provision access) and the notifier (tell the student).

Each job is one POST of its body with an `Idempotency-Key` (the job id), so the remote end
dedupes a retry; `domain.jobs` classifies what came back. Further outbound clients (the
payment gateway, the mail sender) get modules of their own in this package.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx2 as httpx

from domain.jobs import Attempt, Job, JobKind, classify_response, network_failure
from domain.ports import Clock


class JobEndpoints:
    def __init__(self, client: httpx.AsyncClient, urls: Mapping[JobKind, str], timeout: float) -> None:
        self._client = client
        self._urls = dict(urls)
        self._timeout = httpx.Timeout(timeout)

    async def call(self, job: Job, clock: Clock) -> Attempt:
        try:
            response = await self._client.post(
                self._urls[job.kind],
                json=job.body(),
                headers={"Idempotency-Key": job.id},
                timeout=self._timeout,
                follow_redirects=False,
            )
        except httpx.TimeoutException as error:
            return network_failure(f"timeout ({type(error).__name__})")
        except httpx.TransportError as error:
            return network_failure(f"{type(error).__name__}: {error}")
        return classify_response(response.status_code, response.headers.get("retry-after"), clock.now())
