"""The payload-family seam: what a family (§301, KIM, …) gives the core.

A family adapts one codec to the pipeline. The core knows nothing of EDIFACT or mail: it
dispatches each input record by topic to its family, which turns it into output records.
Work is split in two pure steps so that expensive analysis (PDF rendering, OCR) can run
in worker processes while routing, which needs the live tables, stays in the loop:

* ``analyse(rec)`` — bytes → the codec's verdict; no tables, picklable result;
* ``route(rec, analysis, tables)`` — verdict + live tables → output records.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import msgspec

from .records import InRecord, OutRecord
from .stats import Stats
from .tables import LiveTable

__all__ = ["Family", "TableSpec", "Tables"]

T = TypeVar("T", bound=LiveTable)


class TableSpec(msgspec.Struct, frozen=True):
    """A live table a family needs: its name, the compacted topic it is read from, and
    whether the router must have read it to its end before the family's first record."""

    name: str
    topic: str
    factory: Callable[[], LiveTable]
    required: bool = True


class Tables:
    """The live tables of a router process by name, updated by the table feeds."""

    def __init__(self, tables: dict[str, LiveTable] | None = None) -> None:
        self._tables: dict[str, LiveTable] = dict(tables or {})

    def add(self, name: str, table: LiveTable) -> None:
        """Register ``table`` under ``name`` (the first registration wins)."""
        self._tables.setdefault(name, table)

    def get(self, name: str, kind: type[T]) -> T:
        """The table ``name``, checked to be a ``kind``."""
        table = self._tables[name]
        if not isinstance(table, kind):
            raise TypeError(f"table {name!r} is a {type(table).__name__}, not {kind.__name__}")
        return table

    def table(self, name: str) -> LiveTable:
        """The table ``name``, whatever its kind (for the feeds)."""
        return self._tables[name]

    def names(self) -> list[str]:
        """Registered table names."""
        return list(self._tables)

    def sizes(self) -> dict[str, int]:
        """Entries per table (for metrics and logs)."""
        return {name: t.size() for name, t in self._tables.items()}


class Family(Protocol):
    """One payload family."""

    #: Bounded label value for metrics and logs: ``"s301"``, ``"kim"``.
    name: str
    #: Topics whose records this family reads.
    inputs: tuple[str, ...]
    #: Live tables it needs.
    tables: tuple[TableSpec, ...]
    #: Where it aggregates its parsing metrics (set by the pipeline; the loop drains it).
    stats: Stats

    def analyse(self, rec: InRecord) -> Any:
        """Pure, table-free analysis of one record (may run in a worker process)."""
        ...

    def analyse_many(self, recs: list[InRecord]) -> Awaitable[list[Any]] | None:
        """Analysis of a batch off the event loop (worker pool), or None: analyse inline."""
        ...

    def route(self, rec: InRecord, analysis: Any, tables: Tables) -> list[OutRecord]:
        """Output records of ``rec`` given its analysis and the live tables."""
        ...

    def flush(self, stats: Stats) -> None:
        """Hand metrics kept in a cheaper form than :class:`Stats` to ``stats`` (called
        once per batch; families that write to ``stats`` directly do nothing)."""
        ...
