"""The pure core: one input record in, its output records out, dispatched by topic.

Every input record ends somewhere a person can find and replay it: a family turns it
into its terminal outputs; a record no family reads, or whose processing raises, goes to
``stellwerk.dlq`` with its bytes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from .dlq import DeadLetters
from .family import Family, Tables
from .records import InRecord, OutRecord
from .stats import Stats

__all__ = ["Pipeline"]

log = logging.getLogger("stellwerk.pipeline")

_INLINE = object()  # marker: analyse in the loop (the family has no worker pool)


class Pipeline:
    """The families of a router process, their live tables and the DLQ.

    >>> from router.core.records import InRecord
    >>> from router.blobstore import MemoryBlobStore
    >>> p = Pipeline([], Tables(), DeadLetters("stellwerk.dlq", MemoryBlobStore(), 1 << 20))
    >>> [o.topic for o in p.process(InRecord("nobody.reads", 0, 7, None, b"x"))]
    ['stellwerk.dlq']
    """

    def __init__(self, families: Sequence[Family], tables: Tables,
                 dead_letters: DeadLetters, stats: Stats | None = None) -> None:
        self.families = list(families)
        #: Aggregates of every family since the loop last drained them (per batch).
        self.stats = stats if stats is not None else Stats()
        self.tables = tables
        self.dead_letters = dead_letters
        self._by_topic: dict[str, Family] = {}
        for family in self.families:
            family.stats = self.stats
            for spec in family.tables:
                tables.add(spec.name, spec.factory())
            for topic in family.inputs:
                if topic in self._by_topic:
                    raise ValueError(f"topic {topic!r} is read by two families")
                self._by_topic[topic] = family

    def drain_stats(self) -> Stats:
        """Every family's metrics since the last drain (the loop calls it per batch)."""
        if self.stats.enabled:
            for family in self.families:
                family.flush(self.stats)
        return self.stats.drain()

    def family_of(self, topic: str) -> Family | None:
        """The family reading ``topic``."""
        return self._by_topic.get(topic)

    def inputs(self) -> list[str]:
        """Every input topic."""
        return list(self._by_topic)

    # ---- one record (tests, benchmarks, the §301 hot path) ----------------------------
    def process(self, rec: InRecord) -> list[OutRecord]:
        """All output records for ``rec``, analysed inline (never raises for bad input)."""
        family = self._by_topic.get(rec.topic)
        if family is None:
            return [self.dead_letters.record(rec, "SW996", "kein Verfahren liest dieses Topic")]
        return family.route(rec, family.analyse(rec), self.tables)

    # ---- a batch: expensive analysis off the loop --------------------------------------
    async def prepare(self, batch: list[InRecord]) -> list[Any]:
        """Analyses of ``batch`` in order; families with a worker pool analyse theirs
        there, concurrently; the rest is marked for inline analysis in :meth:`finish`."""
        out: list[Any] = [_INLINE] * len(batch)
        groups: dict[int, tuple[Family, list[int]]] = {}
        for i, rec in enumerate(batch):
            family = self._by_topic.get(rec.topic)
            if family is not None:
                groups.setdefault(id(family), (family, []))[1].append(i)
        waits = []
        for family, idxs in groups.values():
            pending = family.analyse_many([batch[i] for i in idxs])
            if pending is not None:
                waits.append((idxs, pending))
        if waits:
            results = await asyncio.gather(*(w for _, w in waits))
            for (idxs, _), res in zip(waits, results, strict=True):
                for i, r in zip(idxs, res, strict=True):
                    out[i] = r
        return out

    def finish(self, rec: InRecord, analysis: Any) -> list[OutRecord]:
        """Output records of ``rec`` from :meth:`prepare`'s analysis."""
        if analysis is _INLINE:
            return self.process(rec)
        family = self._by_topic.get(rec.topic)
        assert family is not None  # prepare only analyses records of known families
        return family.route(rec, analysis, self.tables)

    # ---- held records ------------------------------------------------------------------
    def poison(self, rec: InRecord, reason: str) -> OutRecord:
        """DLQ record for an input whose processing failed unexpectedly."""
        return self.dead_letters.poison(rec, reason)

    def undeliverable(self, rec: InRecord, reason: str) -> OutRecord:
        """DLQ record for an input one of whose outputs the broker refused for good."""
        return self.dead_letters.undeliverable(rec, reason)
