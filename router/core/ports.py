"""What the loop talks to: a source of input records and a sink for output records.

Kafka implements both (``router.kafka``); ``router.memory`` implements them in memory for
tests of the loop without a broker.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from .records import InRecord, OutRecord

__all__ = ["SendOutcome", "Sink", "Source", "TransientError"]


class TransientError(Exception):
    """A Kafka operation failed in a way that retrying may fix."""

    retriable = True


class SendOutcome(msgspec.Struct, frozen=True):
    """What became of the records handed to :meth:`Sink.send_all`, by index.

    ``pending``: not acknowledged, worth another try (transient failure, or not sent
    because an earlier record of the same partition failed). ``failed``: refused for
    good, with the reason (an error class name, never payload). Everything else was
    acknowledged.
    """

    pending: list[int] = []
    failed: dict[int, str] = {}
    error: str = ""


class Source(Protocol):
    """Where input records come from."""

    async def poll(self, max_records: int, timeout_ms: int) -> list[InRecord]:
        """Up to ``max_records`` records; empty after ``timeout_ms`` without any."""
        ...

    async def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        """Commit next offsets per (topic, partition) still assigned to us."""
        ...


class Sink(Protocol):
    """Where output records go."""

    async def send_all(self, records: list[OutRecord]) -> SendOutcome:
        """Produce all, in order per partition, and return once each one is
        acknowledged, refused for good, or (transient failure) left pending."""
        ...
