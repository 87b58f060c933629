"""In-memory Source and Sink: the loop without a broker, for unit tests and dry runs."""

from __future__ import annotations

import asyncio

from .records import InRecord, OutRecord
from .runner import TransientError

__all__ = ["MemorySink", "MemorySource"]


class MemorySource:
    """Serves given records in batches; remembers commits; sets ``drained`` when empty."""

    def __init__(self, records: list[InRecord]) -> None:
        self._pending = list(records)
        self.committed: dict[tuple[str, int], int] = {}
        self.drained = asyncio.Event()

    async def poll(self, max_records: int, timeout_ms: int) -> list[InRecord]:
        """Next batch; an empty batch after a short wait once everything was served."""
        if not self._pending:
            self.drained.set()
            await asyncio.sleep(min(timeout_ms, 10) / 1000)
            return []
        batch, self._pending = self._pending[:max_records], self._pending[max_records:]
        return batch

    async def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        """Record the committed offsets."""
        self.committed.update(offsets)


class MemorySink:
    """Collects produced records; ``fail_times`` first calls raise TransientError."""

    def __init__(self, fail_times: int = 0) -> None:
        self.records: list[OutRecord] = []
        self.calls = 0
        self._fail = fail_times

    async def send_all(self, records: list[OutRecord]) -> None:
        """Append all, or fail transiently."""
        self.calls += 1
        if self._fail > 0:
            self._fail -= 1
            raise TransientError("simulated broker outage")
        self.records.extend(records)
