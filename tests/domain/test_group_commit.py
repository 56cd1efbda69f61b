"""Group commit: who waits, what goes together, and what a failure or a cancellation reaches."""

from __future__ import annotations

import asyncio

import pytest

from domain.group_commit import GroupCommit


class Recorder:
    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on
        self.gate = asyncio.Event()

    async def write(self, batch: list[int]) -> None:
        await self.gate.wait()  # each write takes a round trip; callers queue meanwhile
        if self.fail_on in batch:
            raise ValueError(f"cannot write {self.fail_on}")
        self.batches.append(batch)


async def test_an_idle_caller_is_written_alone_and_those_arriving_meanwhile_together() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder.write)
    first = asyncio.create_task(group.submit(0))
    await asyncio.sleep(0)  # the first batch is under way
    rest = [asyncio.create_task(group.submit(n)) for n in range(1, 6)]
    await asyncio.sleep(0)
    assert not first.done() and not any(task.done() for task in rest)
    recorder.gate.set()
    await asyncio.gather(first, *rest)
    assert recorder.batches == [[0], [1, 2, 3, 4, 5]]


async def test_a_batch_is_never_larger_than_the_limit() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder.write, limit=2)
    tasks = [asyncio.create_task(group.submit(n)) for n in range(5)]
    await asyncio.sleep(0)
    recorder.gate.set()
    await asyncio.gather(*tasks)
    assert recorder.batches == [[0, 1], [2, 3], [4]]


async def test_one_failing_item_fails_only_its_own_caller() -> None:
    recorder = Recorder(fail_on=2)
    group = GroupCommit(recorder.write)
    tasks = [asyncio.create_task(group.submit(n)) for n in range(4)]
    await asyncio.sleep(0)
    recorder.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["NoneType", "NoneType", "ValueError", "NoneType"]
    assert sorted(n for batch in recorder.batches for n in batch) == [0, 1, 3]


async def test_a_caller_that_stops_waiting_still_has_its_item_written() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder.write)
    leaving = asyncio.create_task(group.submit(7))
    staying = asyncio.create_task(group.submit(8))
    await asyncio.sleep(0)
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    recorder.gate.set()
    await staying
    assert recorder.batches == [[7, 8]]
