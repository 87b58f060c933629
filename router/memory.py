"""In-memory Source and Sink: the loop without a broker, for unit tests and dry runs.

Both can write to a shared ``journal`` (a list of ``(call, detail)`` tuples) so a test can
check the order of sends and commits, not only the final state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .core.ports import SendOutcome
from .core.records import InRecord, OutRecord

__all__ = ["MemorySink", "MemorySource"]

Journal = list[tuple[str, object]]


class MemorySource:
    """Serves given records in batches; remembers commits; sets ``drained`` when empty."""

    def __init__(self, records: list[InRecord], journal: Journal | None = None) -> None:
        self._pending = list(records)
        self.committed: dict[tuple[str, int], int] = {}
        self.drained = asyncio.Event()
        self.journal: Journal = journal if journal is not None else []

    async def poll(self, max_records: int, timeout_ms: int) -> list[InRecord]:
        """Next batch; an empty batch after a short wait once everything was served."""
        if not self._pending:
            self.drained.set()
            await asyncio.sleep(min(timeout_ms, 10) / 1000)
            return []
        batch, self._pending = self._pending[:max_records], self._pending[max_records:]
        self.journal.append(("poll", [(r.topic, r.partition, r.offset) for r in batch]))
        return batch

    async def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        """Record the committed offsets."""
        self.journal.append(("commit", dict(offsets)))
        self.committed.update(offsets)


class MemorySink:
    """Collects produced records.

    ``fail_times``: the first calls acknowledge nothing (a transient outage).
    ``refuse``: a record for which it returns a reason is refused for good.
    """

    def __init__(self, fail_times: int = 0, journal: Journal | None = None,
                 refuse: Callable[[OutRecord], str | None] | None = None) -> None:
        self.records: list[OutRecord] = []
        self.calls = 0
        self._fail = fail_times
        self._refuse = refuse
        self.journal: Journal = journal if journal is not None else []

    async def send_all(self, records: list[OutRecord]) -> SendOutcome:
        """Append all (minus refused ones), or fail transiently."""
        self.calls += 1
        if self._fail > 0:
            self._fail -= 1
            self.journal.append(("send-failed", len(records)))
            return SendOutcome(pending=list(range(len(records))), error="simulated outage")
        failed: dict[int, str] = {}
        for i, r in enumerate(records):
            reason = self._refuse(r) if self._refuse else None
            if reason:
                failed[i] = reason
            else:
                self.records.append(r)
        self.journal.append(("send", [r.value for r in records]))
        return SendOutcome(failed=failed)
