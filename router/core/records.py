"""Records that cross the pure core: what comes in from a topic, what goes out.

The Kafka shell converts to and from these; the core never sees a Kafka object.
"""

from __future__ import annotations

import msgspec

__all__ = ["Header", "InRecord", "OutRecord"]

Header = tuple[str, bytes]


class InRecord(msgspec.Struct, frozen=True):
    """One consumed record. ``timestamp`` in ms since the epoch (record time)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = 0
    headers: tuple[Header, ...] = ()


class OutRecord(msgspec.Struct, frozen=True):
    """One record to produce. ``kind`` names the terminal class for metrics and tests:
    routed, rejected, unroutable, test, reply, dlq. ``mtype``, ``verdict`` and ``codes``
    are metadata for observers, not produced.

    ``shape`` is ``(topic, kind, mtype, verdict)`` where the family built it anyway (the
    §301 family, once per message): the loop then counts a batch's outputs by one
    attribute instead of gathering four per record. Without it they are gathered."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...]
    kind: str
    mtype: str = ""
    verdict: str = ""
    codes: tuple[str, ...] = ()
    shape: tuple[str, str, str, str] | None = None
