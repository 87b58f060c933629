"""The one place that talks to Kafka: consumer source, producer sink, admin, routes feed.

Everything here converts aiokafka objects to :mod:`router.records` and back, and turns
aiokafka's transient failures into :class:`~router.runner.TransientError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    TopicAlreadyExistsError,
)
from aiokafka.partitioner import murmur2
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from .config import Config, KafkaConfig
from .records import InRecord, OutRecord
from .routing import RoutingTable
from .runner import SendOutcome, TransientError

__all__ = [
    "KafkaSink",
    "KafkaSource",
    "connection_kwargs",
    "create_topics",
    "ensure_topics",
    "follow_routes",
    "start_with_retry",
]

log = logging.getLogger("stellwerk.kafka")

MAX_RECORD_BYTES = 16 * 1024 * 1024  # KIM mails reach 15 MiB
STOP_TIMEOUT = 3.0


def connection_kwargs(k: KafkaConfig, bootstrap: str | None = None) -> dict[str, Any]:
    """aiokafka connection arguments, security settings passed through."""
    kw: dict[str, Any] = {
        "bootstrap_servers": bootstrap or k.bootstrap,
        "client_id": k.client_id,
        "security_protocol": k.security_protocol,
    }
    if k.security_protocol in ("SSL", "SASL_SSL"):
        ctx = ssl.create_default_context(cafile=k.ssl_cafile or None)
        if k.ssl_certfile:
            ctx.load_cert_chain(k.ssl_certfile, k.ssl_keyfile or None)
        kw["ssl_context"] = ctx
    if k.security_protocol.startswith("SASL"):
        kw.update(sasl_mechanism=k.sasl_mechanism, sasl_plain_username=k.sasl_username,
                  sasl_plain_password=k.sasl_password.reveal())
    return kw


async def start_with_retry(client: Any, what: str, stop: asyncio.Event | None = None,
                           attempts: int = 0) -> None:
    """``await client.start()`` with exponential backoff while the broker is unreachable.

    ``attempts`` 0 retries until ``stop`` is set; then the last error is raised. The
    backoff wakes up at once when ``stop`` is set.
    """
    delay, n = 0.5, 0
    while True:
        try:
            await client.start()
            return
        except KafkaError as exc:
            n += 1
            if (not _retriable(exc) or (attempts and n >= attempts)
                    or (stop is not None and stop.is_set())):
                raise
            log.warning("%s: broker unreachable (%s); retrying in %.1fs", what,
                        type(exc).__name__, delay)
            if stop is None:
                await asyncio.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 10.0)


async def ensure_topics(config: Config, bootstrap: str, extra: tuple[str, ...] = (),
                        stop: asyncio.Event | None = None) -> None:
    """Create every configured topic that is missing (routes topic compacted)."""
    t = config.topics
    admin = AIOKafkaAdminClient(**connection_kwargs(config.kafka, bootstrap))
    await start_with_retry(admin, "admin", stop)
    try:
        existing = set(await admin.list_topics())
        names = [t.inbound, t.replay, t.replies, t.rejected, t.unroutable, t.test, t.dlq,
                 *sorted(set(config.routes.values())), *extra]
        wanted = [NewTopic(n, t.partitions, t.replication) for n in dict.fromkeys(names)
                  if n not in existing]
        if t.routes not in existing:
            wanted.append(NewTopic(t.routes, 1, t.replication,
                                   topic_configs={"cleanup.policy": "compact"}))
        if wanted:
            # Another router instance may have been quicker.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
            log.info("created topics: %s", ", ".join(w.name for w in wanted))
    finally:
        await admin.close()


async def _close(closing: Coroutine[Any, Any, None], what: str) -> None:
    """Await a client's ``stop()`` for at most STOP_TIMEOUT; a broker that is gone must
    not turn a clean shutdown into a crash or a hang."""
    try:
        await asyncio.wait_for(closing, STOP_TIMEOUT)
    except TimeoutError:
        log.warning("%s did not close within %.0fs (broker gone or group join in flight)",
                    what, STOP_TIMEOUT)
    except (KafkaError, OSError) as exc:
        log.warning("%s closed with %s", what, type(exc).__name__)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        # aiokafka's fetcher re-raises the cancellation of its own task on close.
        log.warning("%s close interrupted (broker gone)", what)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Logs partition moves; the loop commits per batch, so nothing is pending here."""

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if revoked:
            log.info("partitions revoked: %s", sorted(f"{p.topic}/{p.partition}"
                                                      for p in revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions assigned: %s", sorted(f"{p.topic}/{p.partition}"
                                                   for p in assigned))


class KafkaSource:
    """Consumer-group source; auto-commit off, explicit offsets per partition."""

    def __init__(self, config: Config, bootstrap: str, topics: list[str],
                 stop: asyncio.Event | None = None) -> None:
        self._stop = stop or asyncio.Event()
        self._consumer = AIOKafkaConsumer(
            **connection_kwargs(config.kafka, bootstrap),
            group_id=config.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Default 500 ms: with a quiet topic every batch would wait that long.
            fetch_max_wait_ms=100,
            max_partition_fetch_bytes=MAX_RECORD_BYTES,
            fetch_max_bytes=4 * MAX_RECORD_BYTES,
        )
        self._topics = topics

    async def start(self, stop: asyncio.Event | None = None) -> None:
        """Connect (with retry) and join the group."""
        await start_with_retry(self._consumer, "consumer", stop)
        self._consumer.subscribe(self._topics, listener=_Listener())

    async def stop(self) -> None:
        """Leave the group (where the broker lets us) and close, in bounded time."""
        await _close(self._consumer.stop(), "consumer")

    async def poll(self, max_records: int, timeout_ms: int) -> list[InRecord]:
        """Next batch, as plain records; empty at once when stop is requested (getmany
        itself waits without limit while the group rebalances)."""
        fetch = asyncio.ensure_future(
            self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records))
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            done, _ = await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if fetch not in done:
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, KafkaError):
                await fetch
            return []
        try:
            batches = fetch.result()
        except KafkaError as exc:
            log.warning("poll failed: %s", type(exc).__name__)
            await asyncio.sleep(0.5)
            return []
        out: list[InRecord] = []
        for tp, records in batches.items():
            for r in records:
                out.append(InRecord(tp.topic, tp.partition, r.offset, r.key, r.value,
                                    r.timestamp, tuple(r.headers or ())))
        return out

    async def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        """Commit explicit next offsets of the partitions still assigned to us.

        A partition revoked while its batch was in flight is skipped, not retried: its
        new owner replays the uncommitted records (same ids), and retrying a commit the
        coordinator can never accept would stall every partition.
        """
        assigned = self._consumer.assignment()
        wanted = {TopicPartition(t, p): o for (t, p), o in offsets.items()}
        mine = {tp: o for tp, o in wanted.items() if tp in assigned}
        if len(mine) < len(wanted):
            log.warning("not committing %d revoked partition(s): %s; the new owner replays",
                        len(wanted) - len(mine),
                        sorted(f"{tp.topic}/{tp.partition}" for tp in wanted if tp not in mine))
        if not mine:
            return
        try:
            await self._consumer.commit(mine)
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("commit rejected after a rebalance (%s); the new owner replays",
                        type(exc).__name__)
        except KafkaError as exc:
            if not _retriable(exc):
                log.error("commit refused (%s); the batch is replayed after a restart",
                          type(exc).__name__)
                return
            raise TransientError(f"commit: {type(exc).__name__}") from exc


def estimate_size(key: bytes | None, value: bytes, headers: tuple[tuple[str, bytes], ...]
                  ) -> int:
    """Bytes of the record alone in a batch, as Kafka counts it for size limits."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, list(headers)))


def _retriable(exc: BaseException) -> bool:
    """Retry vs give up, decided by the error itself (aiokafka's ``retriable``); errors
    from outside Kafka's hierarchy (connection resets, timeouts) are worth a retry."""
    return bool(getattr(exc, "retriable", True)) if isinstance(exc, KafkaError) else True


class KafkaSink:
    """Producer sink: one record batch per partition at a time, acknowledgements awaited.

    The sink picks the partition itself (Kafka's murmur2 of the key, as every Kafka
    producer does, so other producers agree) and sends each partition's records as a
    chain of batches: batch *n+1* of a partition is handed over only after batch *n* was
    acknowledged. A failure therefore leaves that partition's later records unsent, and
    a retry can never let a later record of a key overtake an earlier one — also
    without an idempotent producer (the embedded broker has none).
    """

    def __init__(self, config: Config, bootstrap: str) -> None:
        self._config = config
        self._bootstrap = bootstrap
        self.idempotent = config.kafka.idempotence == "on"
        self._producer = self._make(idempotent=config.kafka.idempotence != "off")
        self._partitions: dict[str, list[int]] = {}
        self._spread = 0

    def _make(self, *, idempotent: bool) -> AIOKafkaProducer:
        limits = self._config.limits
        return AIOKafkaProducer(
            **connection_kwargs(self._config.kafka, self._bootstrap),
            acks="all",
            enable_idempotence=idempotent,
            linger_ms=5,
            max_request_size=limits.max_record_bytes,
            # One batch may hold a whole partition's share of a loop batch.
            max_batch_size=min(limits.max_record_bytes, 1024 * 1024),
            request_timeout_ms=self._config.kafka.request_timeout_ms,
        )

    async def start(self, stop: asyncio.Event | None = None) -> None:
        """Connect with retry; with ``idempotence = "auto"`` fall back to a plain
        producer where the broker refuses idempotence (InitProducerId)."""
        mode = self._config.kafka.idempotence
        if mode == "off":
            await start_with_retry(self._producer, "producer", stop)
            return
        try:
            await start_with_retry(self._producer, "producer", stop)
            self.idempotent = True
        except KafkaError as exc:
            if mode == "on" or _retriable(exc):
                raise
            log.warning("broker refused the idempotent producer (%s); producing without "
                        "idempotence (order per partition is kept by the sink)",
                        type(exc).__name__)
            await _close(self._producer.stop(), "producer")
            self._producer = self._make(idempotent=False)
            await start_with_retry(self._producer, "producer", stop)
        log.info("producer started (idempotent: %s)", "yes" if self.idempotent else "no")

    async def stop(self) -> None:
        """Flush and close, in bounded time (nothing unacknowledged was committed)."""
        await _close(self._producer.stop(), "producer")

    async def _partition_of(self, topic: str, key: bytes | None) -> int:
        parts = self._partitions.get(topic)
        if parts is None:
            parts = sorted(await self._producer.partitions_for(topic))
            self._partitions[topic] = parts
        if key is None:
            self._spread += 1
            return parts[self._spread % len(parts)]
        return parts[(int(murmur2(key)) & 0x7FFFFFFF) % len(parts)]

    async def send_all(self, records: list[OutRecord]) -> SendOutcome:
        """Produce every record, in order per partition; see :class:`SendOutcome`."""
        chains: dict[tuple[str, int], list[int]] = {}
        pending: list[int] = []
        failed: dict[int, str] = {}
        error = ""
        limit = self._config.limits.max_record_bytes
        for i, r in enumerate(records):
            if estimate_size(r.key, r.value, r.headers) > limit:
                # What the broker would refuse anyway (the embedded one would not).
                failed[i] = "MessageSizeTooLargeError"
                continue
            try:
                p = await self._partition_of(r.topic, r.key)
            except KafkaError as exc:
                if _retriable(exc):
                    pending.append(i)
                    error = type(exc).__name__
                else:
                    failed[i] = type(exc).__name__
                continue
            chains.setdefault((r.topic, p), []).append(i)
        results = await asyncio.gather(*(self._chain(tp, idxs, records)
                                         for tp, idxs in chains.items()))
        for chain_pending, chain_failed, chain_error in results:
            pending.extend(chain_pending)
            failed.update(chain_failed)
            error = error or chain_error
        if pending:
            # Metadata may be stale (partitions added, leader moved): ask again next time.
            self._partitions.clear()
        return SendOutcome(pending=sorted(pending), failed=failed, error=error)

    async def _chain(self, tp: tuple[str, int], idxs: list[int], records: list[OutRecord]
                     ) -> tuple[list[int], dict[int, str], str]:
        """Send one partition's records batch after batch; stop at a transient failure."""
        failed: dict[int, str] = {}
        pos = 0
        while pos < len(idxs):
            batch = self._producer.create_batch()
            n = 0
            while pos + n < len(idxs):
                r = records[idxs[pos + n]]
                if batch.append(key=r.key, value=r.value, timestamp=None,
                                headers=list(r.headers)) is None:
                    break
                n += 1
            if n == 0:
                # Not even alone in an empty batch: larger than a batch can be.
                failed[idxs[pos]] = "MessageSizeTooLargeError"
                pos += 1
                continue
            try:
                fut = await self._producer.send_batch(batch, tp[0], partition=tp[1])
                await fut
            except Exception as exc:
                if _retriable(exc):
                    return idxs[pos:], failed, type(exc).__name__
                if n == 1:
                    failed[idxs[pos]] = type(exc).__name__
                else:
                    # Refused as a whole: find the culprit(s) one record at a time.
                    single_pending, single_failed, err = await self._singles(
                        tp, idxs[pos:pos + n], records)
                    failed.update(single_failed)
                    if single_pending:
                        return [*single_pending, *idxs[pos + n:]], failed, err
            pos += n
        return [], failed, ""

    async def _singles(self, tp: tuple[str, int], idxs: list[int], records: list[OutRecord]
                       ) -> tuple[list[int], dict[int, str], str]:
        failed: dict[int, str] = {}
        for k, i in enumerate(idxs):
            r = records[i]
            batch = self._producer.create_batch()
            batch.append(key=r.key, value=r.value, timestamp=None, headers=list(r.headers))
            try:
                await (await self._producer.send_batch(batch, tp[0], partition=tp[1]))
            except Exception as exc:
                if _retriable(exc):
                    return idxs[k:], failed, type(exc).__name__
                failed[i] = type(exc).__name__
        return [], failed, ""


async def create_topics(config: Config, bootstrap: str, names: set[str],
                        stop: asyncio.Event | None = None) -> dict[str, str]:
    """Create those of ``names`` that do not exist yet; the refused ones with the
    broker's reason (e.g. not authorised, invalid name)."""
    t = config.topics
    admin = AIOKafkaAdminClient(**connection_kwargs(config.kafka, bootstrap))
    await start_with_retry(admin, "admin", stop)
    refused: dict[str, str] = {}
    try:
        missing = sorted(names - set(await admin.list_topics()))
        for name in missing:
            try:
                await admin.create_topics([NewTopic(name, t.partitions, t.replication)])
                log.info("created route topic %s", name)
            except TopicAlreadyExistsError:
                pass
            except KafkaError as exc:
                if _retriable(exc):
                    raise
                refused[name] = type(exc).__name__
                log.error("broker refused route topic %s (%s); its IKs go to %s", name,
                          type(exc).__name__, t.unroutable)
    finally:
        await _close(admin.close(), "admin")
    return refused


async def follow_routes(config: Config, bootstrap: str, table: RoutingTable,
                        loaded: asyncio.Event, stop: asyncio.Event,
                        on_change: Callable[[int], None] | None = None) -> None:
    """Apply ``stellwerk.routes`` to ``table`` until stop; set ``loaded`` once the topic
    was read to its end (every partition's position at its end offset and at the high
    watermark of a fetch, and one fetch that brought nothing). Topics of new routes are
    created here, before any message is routed to them; a topic the broker refuses takes
    its routes out of service (those IKs become unroutable with the reason)."""
    consumer = AIOKafkaConsumer(**connection_kwargs(config.kafka, bootstrap),
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await start_with_retry(consumer, "routes", stop)
    topic = config.topics.routes
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            await consumer.topics()  # refreshes metadata
            parts = consumer.partitions_for_topic(topic) or {0}
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        known = set(table.snapshot().values())
        read = 0
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for r in records:
                    read += 1
                    if not table.apply(r.key, r.value):
                        log.warning("ignored malformed route update at offset %d", r.offset)
            if batches:
                current = set(table.snapshot().values())
                new = current - known
                if new:
                    for name, reason in (await create_topics(config, bootstrap, new,
                                                             stop)).items():
                        table.refuse(name, reason)
                known = current
                if loaded.is_set():
                    log.info("routing table updated: %d routes", len(table.snapshot()))
                if on_change is not None:
                    on_change(len(table.snapshot()))
            elif not loaded.is_set():
                # The embedded broker may report end offsets too low, so the fetch high
                # watermark counts too, and an empty fetch at the end is required.
                positions = {tp: await consumer.position(tp) for tp in tps}
                if all(positions[tp] >= max(end[tp], consumer.highwater(tp) or 0)
                       for tp in tps):
                    log.info("routing table loaded: %d routes (%d records of %s read)",
                             len(table.snapshot()), read, topic)
                    loaded.set()
    finally:
        await _close(consumer.stop(), "routes consumer")
