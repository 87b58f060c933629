"""Live tables kept from compacted topics: the protocol, and the routing table.

The routing table maps receiver IK → carrier topic, from config and a compacted topic.

Updates arrive on ``stellwerk.routes`` (key: IK, value ``{"topic": "…"}``, tombstone
deletes) and apply without restart. A bad update is ignored and reported, never fatal.
A route naming a topic that cannot exist (not a legal Kafka topic name, or refused by the
broker when the router created it) is kept as a *problem*: messages for that IK go to
``s301.unroutable`` with the reason instead of stalling their partition.

>>> t = RoutingTable({"120591481": "uv.dguv"})
>>> t.apply(b"260510984", b'{"topic": "kh.x"}')
True
>>> t.lookup("260510984"), t.apply(b"260510984", None), t.lookup("260510984")
('kh.x', True, None)
>>> t.apply(b"260510984", b'{"topic": "no valid name"}'), t.lookup("260510984")
(True, None)
>>> t.problem("260510984")
"Route auf ungültigen Topic-Namen 'no valid name'"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol

import msgspec

__all__ = ["LiveTable", "RouteUpdate", "RoutingTable", "valid_topic"]


class RouteUpdate(msgspec.Struct, frozen=True):
    """Value of a ``stellwerk.routes`` record."""

    topic: str


_decode_update = msgspec.json.Decoder(RouteUpdate).decode
# Kafka's own rule (kafka.common.internals.Topic): legal characters, at most 249.
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


def valid_topic(name: str) -> bool:
    """True if Kafka accepts ``name`` as a topic name."""
    return _TOPIC.fullmatch(name) is not None and name not in (".", "..")


class RoutingTable:
    """Static routes from config overlaid by live updates (updates win)."""

    def __init__(self, static: Mapping[str, str] | None = None) -> None:
        self._routes: dict[str, str] = dict(static or {})
        self._static = dict(self._routes)
        self._problems: dict[str, str] = {}

    def lookup(self, ik: str) -> str | None:
        """Topic for ``ik`` or None (unroutable)."""
        return self._routes.get(ik)

    def problem(self, ik: str) -> str:
        """Why ``ik`` has no usable route ("" if it simply has none)."""
        return self._problems.get(ik, "")

    def refuse(self, topic: str, reason: str) -> list[str]:
        """Take every route to ``topic`` out of service (the broker refused the topic);
        the IKs affected."""
        iks = [ik for ik, t in self._routes.items() if t == topic]
        for ik in iks:
            del self._routes[ik]
            self._problems[ik] = f"Topic {topic!r} nicht verfügbar: {reason}"
        return iks

    def apply(self, key: bytes | None, value: bytes | None) -> bool:
        """Apply one compacted-topic record; False if it was malformed and ignored.

        A tombstone removes the live route and falls back to the configured one.
        """
        if not key:
            return False
        ik = key.decode("latin-1")
        self._problems.pop(ik, None)
        if value is None:
            if ik in self._static:
                self._routes[ik] = self._static[ik]
            else:
                self._routes.pop(ik, None)
            return True
        try:
            update = _decode_update(value)
        except msgspec.DecodeError:
            return False
        if not update.topic:
            return False
        if not valid_topic(update.topic):
            self._routes.pop(ik, None)
            self._problems[ik] = f"Route auf ungültigen Topic-Namen {update.topic!r}"
            return True
        self._routes[ik] = update.topic
        return True

    def size(self) -> int:
        """Number of routes."""
        return len(self._routes)

    def topics(self) -> set[str]:
        """Topics routed to."""
        return set(self._routes.values())

    def snapshot(self) -> dict[str, str]:
        """A copy of the current table."""
        return dict(self._routes)


class LiveTable(Protocol):
    """A table kept from a compacted topic: key → latest value, tombstones delete."""

    def apply(self, key: bytes | None, value: bytes | None) -> bool:
        """Apply one record; False if it was malformed and ignored."""
        ...

    def size(self) -> int:
        """Number of entries."""
        ...

    def topics(self) -> set[str]:
        """Topics its entries route to (created by the feed before use); may be empty."""
        ...

    def refuse(self, topic: str, reason: str) -> list[str]:
        """Take entries routing to ``topic`` out of service; the keys affected."""
        ...
