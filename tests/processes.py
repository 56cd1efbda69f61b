"""`enrollwire` as a real child process, for tests that kill it; and what /proc says about processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2 as httpx

from server.settings import Settings

HANG_GUARD = 60.0


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment under which a child process loads exactly `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENROLLWIRE_")}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list):
            text = ",".join(str(v) for v in value)
        else:
            text = str(value)
        env[f"ENROLLWIRE_{name.upper()}"] = text
    return env


class Enrollwire:
    """`enrollwire <command>` in a process of its own; started again on the same port after a kill."""

    def __init__(self, command: str, settings: Settings, log: Path) -> None:
        self.command = command
        self.settings = settings
        self.log = log
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    async def start(self) -> None:
        assert self.process is None or self.process.returncode is not None, "already running"
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "server.cli",
                self.command,
                env=settings_env(self.settings),
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        self.starts += 1
        if self.command == "serve":
            await self._until_healthy(self.process)

    async def _until_healthy(self, process: asyncio.subprocess.Process) -> None:
        async with asyncio.timeout(HANG_GUARD):
            await until_answers(process, self.base_url, "/healthz", self.log)

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, in-flight work and leases are left as they are."""
        if self.process is not None:
            await kill_group(self.process)

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            async with asyncio.timeout(HANG_GUARD):
                await process.wait()
        except TimeoutError:
            await self.kill()


@contextlib.asynccontextmanager
async def enrollwire(command: str, settings: Settings, log: Path) -> AsyncIterator[Enrollwire]:
    child = Enrollwire(command, settings, log)
    await child.start()
    try:
        yield child
    finally:
        await child.stop()


def _stat_fields(pid: int | str) -> list[str]:
    # The fields after the command (which may hold spaces and parentheses) start after its last ")".
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if int(_stat_fields(entry.name)[1]) == pid:
                    found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running or sleeping; a zombie has already exited."""
    try:
        return _stat_fields(pid)[0] != "Z"
    except OSError:
        return False


async def until_answers(process: asyncio.subprocess.Process, base_url: str, path: str, log: object) -> None:
    """Polls `path` until it answers 200; fails at once if the process exits first (see `log`)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
        while True:
            assert process.returncode is None, f"exited before it was ready; see {log}"
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(path)).status_code == 200:
                    return
            await asyncio.sleep(0.05)


async def kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILLs a process started in its own session, with its group, unless it has exited; reaps it."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
