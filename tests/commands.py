"""A record of the commands a database client sends: what the tests count round trips by."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.monitoring import CommandFailedEvent, CommandListener, CommandStartedEvent, CommandSucceededEvent


class CommandLog(CommandListener):
    def __init__(self) -> None:
        self.sent: list[tuple[str, Mapping[str, Any]]] = []  # (command name, command)

    def of(self, name: str, collection: str) -> list[Mapping[str, Any]]:
        """The `name` commands (find, insert, update...) sent to `collection`, in order."""
        return [command for sent, command in self.sent if sent == name and command.get(name) == collection]

    def clear(self) -> None:
        self.sent.clear()

    def started(self, event: CommandStartedEvent) -> None:
        self.sent.append((event.command_name, event.command))

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass
