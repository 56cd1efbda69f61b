"""`realtime.eager`: a write that need not wait finishes in the caller; one that must, in a task."""

from __future__ import annotations

import asyncio

import pytest

from realtime import eager


async def test_a_coroutine_that_never_waits_finishes_in_the_caller() -> None:
    ran: list[str] = []

    async def write() -> bool:
        ready = asyncio.Event()
        ready.set()
        await ready.wait()  # a set event does not suspend
        ran.append("written")
        return True

    assert eager.start(write()) is True
    assert ran == ["written"]


async def test_one_that_waits_is_finished_later_with_its_result_and_its_exceptions() -> None:
    writable = asyncio.Event()
    steps: list[str] = []

    async def write(fail: bool) -> bool:
        steps.append("started")
        await writable.wait()
        await asyncio.sleep(0)  # a bare yield after the wait
        steps.append("written")
        if fail:
            raise ConnectionError("gone")
        return True

    pending = eager.start(write(fail=False))
    failing = eager.start(write(fail=True))
    assert isinstance(pending, eager.Pending) and isinstance(failing, eager.Pending)
    assert steps == ["started", "started"]
    finished = asyncio.ensure_future(pending.finish())
    failed = asyncio.ensure_future(failing.finish())
    await asyncio.sleep(0.01)
    assert not finished.done()
    writable.set()
    assert await finished is True
    with pytest.raises(ConnectionError):
        await failed
    assert steps == ["started", "started", "written", "written"]


async def test_cancelling_the_finish_runs_the_coroutines_cleanup() -> None:
    never = asyncio.Event()
    cleaned: list[bool] = []

    async def write() -> bool:
        try:
            await never.wait()
        finally:
            cleaned.append(True)
        return True

    pending = eager.start(write())
    assert isinstance(pending, eager.Pending)
    task = asyncio.ensure_future(pending.finish())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == [True]
    assert not never._waiters  # the event forgot the abandoned waiter
