"""The loop around the pure core: poll a batch, process, produce, await acks, commit.

The order is the delivery guarantee (at-least-once), written down here once:

1. ``poll`` a batch (records of any partitions assigned to us).
2. ``process`` every record into output records — pure, no I/O. A record whose
   processing raises anyway becomes a DLQ record: a poison record never stops its
   partition.
3. ``send_all`` produces every output of the batch and waits for *every*
   acknowledgement. On failure the same outputs are sent again after a backoff; ids are
   content-derived, so a duplicate carries the same ``stellwerk-id`` and consumers
   deduplicate. Nothing is committed until all are acknowledged.
4. ``commit`` the next offset of each partition of the batch — explicit offsets, never
   "whatever was consumed", so a rebalance cannot commit unprocessed records.

A crash anywhere before 4 replays the batch on restart; a crash after 4 loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from .observer import BatchStats, NullObserver, Observer
from .pipeline import DLQ, Pipeline
from .records import InRecord, OutRecord

__all__ = ["Sink", "Source", "StoppedError", "TransientError", "run_loop"]

log = logging.getLogger("stellwerk.runner")
T = TypeVar("T")


class TransientError(Exception):
    """A Kafka operation failed in a way that retrying may fix."""

    retriable = True


class Source(Protocol):
    """Where input records come from."""

    async def poll(self, max_records: int, timeout_ms: int) -> list[InRecord]:
        """Up to ``max_records`` records; empty after ``timeout_ms`` without any."""
        ...

    async def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        """Commit next offsets per (topic, partition)."""
        ...


class Sink(Protocol):
    """Where output records go."""

    async def send_all(self, records: list[OutRecord]) -> None:
        """Produce all, in order, and return once every one is acknowledged."""
        ...


def _safe_process(pipeline: Pipeline, rec: InRecord) -> list[OutRecord]:
    try:
        return pipeline.process(rec)
    except Exception as exc:
        # Position only, never content: the exception text could quote payload.
        log.error("processing failed topic=%s partition=%d offset=%d error=%s; record to DLQ",
                  rec.topic, rec.partition, rec.offset, type(exc).__name__)
        return [pipeline.poison(rec, type(exc).__name__)]


class StoppedError(Exception):
    """Stop was requested while an operation was still failing; the batch in hand was
    not committed. ``total`` counts the records committed before."""

    def __init__(self, what: str, total: int = 0) -> None:
        super().__init__(what)
        self.total = total


async def _retry(op: Callable[[T], Awaitable[None]], arg: T, what: str, observer: Observer,
                 stop: asyncio.Event, max_backoff: float = 10.0) -> None:
    """Await ``op(arg)`` until it succeeds, backing off on TransientError.

    If stop is requested meanwhile, give up with :class:`StoppedError`: the batch stays
    uncommitted and is processed again after restart, so nothing is lost.
    """
    delay = 0.2
    while True:
        try:
            await op(arg)
            return
        except TransientError as exc:
            observer.on_retry(what)
            if stop.is_set():
                raise StoppedError(what) from exc
            log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_backoff)


async def run_loop(
    source: Source,
    sink: Sink,
    pipeline: Pipeline,
    stop: asyncio.Event,
    *,
    batch_max: int = 500,
    poll_timeout_ms: int = 200,
    observer: Observer | None = None,
) -> int:
    """Run until ``stop`` is set; the batch in hand is always finished. Returns the
    number of input records processed."""
    obs = observer or NullObserver()
    total = 0
    while not stop.is_set():
        batch = await source.poll(batch_max, poll_timeout_ms)
        if not batch:
            continue
        started = time.perf_counter()
        stats = BatchStats()
        outputs: list[OutRecord] = []
        offsets: dict[tuple[str, int], int] = {}
        for rec in batch:
            outputs.extend(_safe_process(pipeline, rec))
            offsets[(rec.topic, rec.partition)] = rec.offset + 1
        try:
            await _retry(sink.send_all, outputs, "send", obs, stop)
            await _retry(source.commit, offsets, "commit", obs, stop)
        except StoppedError as exc:
            log.warning("stopping with an uncommitted batch (%s failing); it is replayed on "
                        "restart", exc)
            raise StoppedError(str(exc), total) from exc
        stats.records = len(batch)
        for o in outputs:
            stats.outputs[o.kind] += 1
            if o.kind != DLQ and o.mtype is not None and o.verdict:
                stats.types[(o.mtype, o.verdict)] += 1
            for code in o.codes:
                stats.codes[code] += 1
        stats.seconds = time.perf_counter() - started
        obs.on_batch(stats)
        total += len(batch)
    return total
