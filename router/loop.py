"""The loop around the pure core: poll a batch, process, produce, await acks, commit.

The order is the delivery guarantee (at-least-once), written down here once:

1. ``poll`` a batch (records of any partitions assigned to us).
2. ``process`` every record into output records — pure, no I/O. A record whose
   processing raises anyway becomes a DLQ record: a poison record never stops its
   partition.
3. ``send_all`` produces every output of the batch and waits for every acknowledgement.
   Records the broker refused *for good* (``retriable`` false on the error: too large,
   invalid topic, …) are reported back; their input record goes to the DLQ instead, so
   the partition moves on. Records that failed *transiently* are sent again after a
   backoff, and only those: the sink sends each partition's records in order and stops a
   partition at its first failure, so a retry never lets a later record of a key
   overtake an earlier one. Consumers see first occurrences in input order; a duplicate
   (a retry of a record whose acknowledgement was lost, or a replay after a crash)
   carries the same ``stellwerk-id`` and the same value.
4. ``commit`` the next offset of each partition of the batch — explicit offsets, never
   "whatever was consumed", so a rebalance cannot commit unprocessed records. A
   partition revoked meanwhile is not committed here: its new owner replays it.

A crash anywhere before 4 replays the batch on restart; a crash after 4 loses nothing.

Stop is bounded: once stop is requested, a send or commit in flight gets
``stop_grace`` seconds, backoffs end at once, and the batch is left uncommitted if its
acknowledgements did not arrive (it is replayed by whoever owns the partition next).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Iterable
from operator import attrgetter
from typing import Any, TypeVar

from .core.headers import DLQ, NOTICE
from .core.pipeline import Pipeline
from .core.ports import Sink, Source, TransientError
from .core.records import InRecord, OutRecord
from .core.stats import Stats
from .metrics.observer import NullObserver, Observer

__all__ = ["StoppedError", "account_batch", "count_outputs", "deliver", "run_loop",
           "until_stopped"]

log = logging.getLogger("stellwerk.runner")
# Outputs that are not a message's verdict: dead letters, notices to senders.
_NOT_MESSAGES = frozenset((DLQ, NOTICE))
T = TypeVar("T")


class StoppedError(Exception):
    """Stop was requested while an operation was still failing or in flight; the batch
    in hand was not committed. ``total`` counts the records committed before."""

    def __init__(self, what: str, total: int = 0) -> None:
        super().__init__(what)
        self.total = total


def _safe_process(pipeline: Pipeline, rec: InRecord, analysis: Any) -> list[OutRecord]:
    try:
        return pipeline.finish(rec, analysis)
    except Exception as exc:
        # Position only, never content: the exception text could quote payload.
        log.error("processing failed topic=%s partition=%d offset=%d error=%s; record to DLQ",
                  rec.topic, rec.partition, rec.offset, type(exc).__name__)
        return [pipeline.poison(rec, type(exc).__name__)]


async def until_stopped(op: Awaitable[T], stop: asyncio.Event, grace: float, what: str) -> T:
    """Await ``op``; once ``stop`` is set it gets ``grace`` more seconds, then it is
    cancelled and :class:`StoppedError` raised (nothing is committed after an abandoned
    op). ``grace`` 0: give up as soon as stop is requested."""
    task = asyncio.ensure_future(op)
    if not stop.is_set():
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if task.done():
            return task.result()
    try:
        return await asyncio.wait_for(task, grace)
    except TimeoutError as exc:
        raise StoppedError(f"{what} still in flight") from exc


async def _backoff(stop: asyncio.Event, delay: float, what: str) -> None:
    """Sleep ``delay`` unless stop is requested; then raise :class:`StoppedError`."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay)
    if stop.is_set():
        raise StoppedError(f"{what} failing")


async def deliver(sink: Sink, records: list[OutRecord], stop: asyncio.Event,
                   obs: Observer, grace: float, *, insist: bool = False) -> dict[int, str]:
    """Send until every record is acknowledged or refused for good; the refused ones.

    ``insist``: refused records are retried too (the DLQ has no place behind it: a
    record it refuses holds the partition rather than being lost).
    """
    todo = list(range(len(records)))
    failed: dict[int, str] = {}
    delay = 0.2
    while todo:
        outcome = await until_stopped(sink.send_all([records[i] for i in todo]), stop,
                                       grace, "send")
        retry = outcome.pending
        if insist:
            retry = sorted({*retry, *outcome.failed})
        else:
            failed.update({todo[j]: reason for j, reason in outcome.failed.items()})
        if not retry:
            break
        todo = [todo[j] for j in retry]
        obs.on_retry("send", outcome.error or "refused")
        log.warning("send: %d record(s) not acknowledged (%s); retrying in %.1fs",
                    len(todo), outcome.error or "refused", delay)
        await _backoff(stop, delay, "send")
        delay = min(delay * 2, 10.0)
    return failed


async def _commit(source: Source, offsets: dict[tuple[str, int], int], stop: asyncio.Event,
                  obs: Observer, grace: float) -> None:
    delay = 0.2
    while True:
        try:
            await until_stopped(source.commit(offsets), stop, grace, "commit")
            return
        except TransientError as exc:
            cause = exc.__cause__
            obs.on_retry("commit", type(cause if cause is not None else exc).__name__)
            log.warning("commit failed (%s); retrying in %.1fs", exc, delay)
            await _backoff(stop, delay, "commit")
            delay = min(delay * 2, 10.0)


async def run_loop(
    source: Source,
    sink: Sink,
    pipeline: Pipeline,
    stop: asyncio.Event,
    *,
    batch_max: int = 500,
    poll_timeout_ms: int = 200,
    observer: Observer | None = None,
    stop_grace: float = 3.0,
) -> int:
    """Run until ``stop`` is set; the batch in hand is finished if it can be within
    ``stop_grace``. Returns the number of input records processed and committed."""
    obs = observer or NullObserver()
    total = 0
    while not stop.is_set():
        batch = await source.poll(batch_max, poll_timeout_ms)
        if not batch:
            continue
        started = time.perf_counter()
        outputs: list[OutRecord] = []
        origin: list[int] = []
        offsets: dict[tuple[str, int], int] = {}
        try:
            # Expensive analysis (PDF, OCR) runs in worker processes meanwhile.
            analyses = await until_stopped(pipeline.prepare(batch), stop, stop_grace,
                                           "analysis")
        except StoppedError as exc:
            raise StoppedError(str(exc), total) from exc
        for j, rec in enumerate(batch):
            produced = _safe_process(pipeline, rec, analyses[j])
            outputs.extend(produced)
            origin.extend([j] * len(produced))
            offsets[(rec.topic, rec.partition)] = rec.offset + 1
        try:
            sent = time.perf_counter()
            refused = await deliver(sink, outputs, stop, obs, stop_grace)
            if refused:
                outputs = await _divert(sink, pipeline, batch, outputs, origin, refused,
                                        stop, obs, stop_grace)
            acked, acked_at = time.perf_counter(), time.time()
            await _commit(source, offsets, stop, obs, stop_grace)
        except StoppedError as exc:
            log.warning("stopping with an uncommitted batch (%s); it is replayed on "
                        "restart", exc)
            raise StoppedError(str(exc), total) from exc
        done = time.perf_counter()
        stats = pipeline.drain_stats()
        if stats.enabled:
            account_batch(stats, pipeline, batch, outputs, acked_at,
                          (sent, acked, done, done - started), offsets)
        obs.on_batch(stats)
        total += len(batch)
    return total


def account_batch(stats: Stats, pipeline: Pipeline, batch: list[InRecord],
                  outputs: list[OutRecord], acked_at: float,
                  times: tuple[float, float, float, float],
                  partitions: Iterable[tuple[str, int]] = ()) -> None:
    """The loop's share of a batch's metrics, counters aggregated: input records per topic,
    outputs, batch size and times (``times``: sent, acknowledged, committed, seconds of
    the whole batch), end-to-end latency per input record.

    ``partitions`` are the batch's (topic, partition) pairs where the caller has them
    (the loop's commit offsets): when they name one topic, every record is of it and
    the records need no pass of their own."""
    family = pipeline.family_of(batch[0].topic)
    name = family.name if family is not None else "none"
    sent, acked, done, seconds = times
    count = stats.count
    topics = {topic for topic, _ in partitions}
    if len(topics) == 1:
        count(("stellwerk_records_in_total", name, topics.pop()), len(batch))
    else:
        for topic, n in Counter(map(_TOPIC, batch)).items():
            count(("stellwerk_records_in_total", name, topic), n)
    count_outputs(stats, name, outputs)
    stats.sample(("stellwerk_batch_records", name), len(batch))
    stats.sample(("stellwerk_batch_seconds", name), seconds)
    stats.sample(("stellwerk_produce_seconds", name), acked - sent)
    stats.sample(("stellwerk_commit_seconds", name), done - acked)
    # Record timestamps are wall-clock milliseconds of the producer (or the broker).
    stats.extend(("stellwerk_end_to_end_seconds", name),
                 [acked_at - r.timestamp / 1000 for r in batch if r.timestamp > 0])


_SHAPE = attrgetter("topic", "kind", "mtype", "verdict")
_READY = attrgetter("shape")
_CODES = attrgetter("codes")
_TOPIC = attrgetter("topic")


def count_outputs(stats: Stats, family: str, outputs: list[OutRecord]) -> None:
    """Acknowledged outputs by topic and kind; their messages by type and verdict.

    Grouped at C level first (``Counter`` over ``attrgetter``), so the Python work is
    per distinct (topic, kind, type, verdict), not per record; by the ready-made
    ``OutRecord.shape`` where the family set it."""
    count = stats.count
    shapes: Counter[tuple[str, str, str, str] | None] = Counter(map(_READY, outputs))
    if shapes.pop(None, 0):
        shapes.update(map(_SHAPE, [o for o in outputs if o.shape is None]))
    for shape, n in shapes.items():
        assert shape is not None  # popped above
        topic, kind, mtype, verdict = shape
        count(("stellwerk_records_out_total", family, topic, kind), n)
        if kind not in _NOT_MESSAGES and mtype and verdict:
            count(("stellwerk_messages_total", family, mtype, verdict), n)
    for codes in filter(None, map(_CODES, outputs)):
        for code in codes:
            count(("stellwerk_validation_errors_total", family, code))


async def _divert(sink: Sink, pipeline: Pipeline, batch: list[InRecord],
                  outputs: list[OutRecord], origin: list[int], refused: dict[int, str],
                  stop: asyncio.Event, obs: Observer, grace: float) -> list[OutRecord]:
    """Send the inputs of refused outputs to the DLQ; the outputs as delivered."""
    reasons: dict[int, str] = {}
    for i, reason in refused.items():
        reasons.setdefault(origin[i], f"{reason} topic={outputs[i].topic}")
    for j, reason in reasons.items():
        rec = batch[j]
        log.error("output refused by the broker topic=%s partition=%d offset=%d (%s); "
                  "input record to DLQ", rec.topic, rec.partition, rec.offset, reason)
    dlq = [pipeline.undeliverable(batch[j], reason) for j, reason in sorted(reasons.items())]
    await deliver(sink, dlq, stop, obs, grace, insist=True)
    return [o for i, o in enumerate(outputs) if i not in refused] + dlq
