"""The routing table: receiver IK → carrier topic, from config and a compacted topic.

Updates arrive on ``stellwerk.routes`` (key: IK, value ``{"topic": "…"}``, tombstone
deletes) and apply without restart. A bad update is ignored and reported, never fatal.

>>> t = RoutingTable({"120591481": "uv.dguv"})
>>> t.apply(b"260510984", b'{"topic": "kh.x"}')
True
>>> t.lookup("260510984"), t.apply(b"260510984", None), t.lookup("260510984")
('kh.x', True, None)
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

__all__ = ["RouteUpdate", "RoutingTable"]


class RouteUpdate(msgspec.Struct, frozen=True):
    """Value of a ``stellwerk.routes`` record."""

    topic: str


_decode_update = msgspec.json.Decoder(RouteUpdate).decode


class RoutingTable:
    """Static routes from config overlaid by live updates (updates win)."""

    def __init__(self, static: Mapping[str, str] | None = None) -> None:
        self._routes: dict[str, str] = dict(static or {})
        self._static = dict(self._routes)

    def lookup(self, ik: str) -> str | None:
        """Topic for ``ik`` or None (unroutable)."""
        return self._routes.get(ik)

    def apply(self, key: bytes | None, value: bytes | None) -> bool:
        """Apply one compacted-topic record; False if it was malformed and ignored.

        A tombstone removes the live route and falls back to the configured one.
        """
        if not key:
            return False
        ik = key.decode("latin-1")
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
        self._routes[ik] = update.topic
        return True

    def snapshot(self) -> dict[str, str]:
        """A copy of the current table."""
        return dict(self._routes)
