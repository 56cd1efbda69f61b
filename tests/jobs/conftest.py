"""The job tests get a store of their own, one per module.

SecantusDB keeps a record of every retryable write (30 minutes) and walks all of them on each
write, sorting them once there are 10,000: a write costs ~3 ms on a fresh server and ~20-30 ms
after 10,000 others (measured 2026-12-06). The suite's earlier modules leave thousands behind,
so the job tests, which make thousands of writes each, would mostly measure the surrogate's
registry. MongoDB keeps the same records in a collection with an index; nothing to copy here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.embedded import ManagedServer, start_mongo


@pytest.fixture(scope="module")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedServer]:
    server = start_mongo(Path(tmp_path_factory.mktemp("mongo")))
    yield server
    server.stop()
