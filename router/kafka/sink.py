"""The producer sink: per-partition chains of record batches, acknowledgements awaited."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from ..config import Config
from ..core.ports import SendOutcome
from ..core.records import OutRecord
from .client import close_bounded, connection_kwargs, retriable, start_with_retry

__all__ = ["KafkaSink", "estimate_size"]

log = logging.getLogger("stellwerk.kafka")


class _RefusedInitProducerId(logging.Filter):
    """Drops aiokafka's ERROR line for a refused InitProducerId while ``start`` tries the
    idempotent producer: the fallback is expected and logged once as a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "InitProducerIdRequest" not in record.getMessage()


_SENDER_LOG = logging.getLogger("aiokafka.producer.sender")
_HASH_CACHE = 65536  # distinct keys remembered (receiver IKs, sender IKs, Aktenzeichen)
_FRAMING_MARGIN = 64 * 1024  # headers and record framing stay far below this


def estimate_size(key: bytes | None, value: bytes | None, headers: tuple[tuple[str, bytes], ...]
                  ) -> int:
    """Bytes of the record alone in a batch, as Kafka counts it for size limits."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, list(headers)))


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
        #: The broker refused InitProducerId: not Apache Kafka (the embedded broker).
        self.refused_idempotence = False
        self._producer = self._make(idempotent=config.kafka.idempotence != "off")
        self._partitions: dict[str, list[int]] = {}
        self._spread = 0
        # murmur2 runs in Python in aiokafka (~2 µs); keys (IKs, Aktenzeichen) repeat
        self._hashes: dict[bytes, int] = {}
        self.healthy = False  # the last send reached the broker (read by metrics)

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
            self.healthy = True
            return
        quiet = _RefusedInitProducerId()
        if mode == "auto":
            _SENDER_LOG.addFilter(quiet)
        try:
            await start_with_retry(self._producer, "producer", stop)
            self.idempotent = True
        except KafkaError as exc:
            if mode == "on" or retriable(exc):
                raise
            log.warning("broker refused the idempotent producer (%s); producing without "
                        "idempotence (order per partition is kept by the sink)",
                        type(exc).__name__)
            self.refused_idempotence = True
            await close_bounded(self._producer.stop(), "producer")
            self._producer = self._make(idempotent=False)
            await start_with_retry(self._producer, "producer", stop)
        finally:
            _SENDER_LOG.removeFilter(quiet)
        self.healthy = True
        log.info("producer started (idempotent: %s)", "yes" if self.idempotent else "no")

    def broker_up(self) -> bool:
        """The last send (or the start) succeeded. Not the connection table: an idle
        producer closes its connections after ``connections_max_idle_ms``, which is no
        outage (the consumer's connections tell whether the broker is there)."""
        return self.healthy

    async def stop(self) -> None:
        """Flush and close, in bounded time (nothing unacknowledged was committed)."""
        await close_bounded(self._producer.stop(), "producer")

    async def _partitions_of(self, topic: str) -> list[int]:
        parts = sorted(await self._producer.partitions_for(topic))
        self._partitions[topic] = parts
        return parts

    def _partition(self, parts: list[int], key: bytes | None) -> int:
        """Kafka's default partition of ``key`` (murmur2, as every Kafka producer)."""
        if key is None:
            self._spread += 1
            return parts[self._spread % len(parts)]
        h = self._hashes.get(key)
        if h is None:
            if len(self._hashes) >= _HASH_CACHE:
                self._hashes.clear()
            h = self._hashes[key] = int(murmur2(key)) & 0x7FFFFFFF
        return parts[h % len(parts)]

    async def send_all(self, records: list[OutRecord]) -> SendOutcome:
        """Produce every record, in order per partition; see :class:`SendOutcome`."""
        chains: dict[tuple[str, int], list[int]] = {}
        pending: list[int] = []
        failed: dict[int, str] = {}
        error = ""
        limit = self._config.limits.max_record_bytes
        # below this a record cannot exceed the limit, whatever its framing costs
        small = limit - _FRAMING_MARGIN
        known = self._partitions
        for i, r in enumerate(records):
            if len(r.value or b"") + len(r.key or b"") > small and estimate_size(
                    r.key, r.value, r.headers) > limit:
                # What the broker would refuse anyway (the embedded one would not).
                failed[i] = "MessageSizeTooLargeError"
                continue
            parts = known.get(r.topic)
            if parts is None:
                try:
                    parts = await self._partitions_of(r.topic)
                except KafkaError as exc:
                    if retriable(exc):
                        pending.append(i)
                        error = type(exc).__name__
                    else:
                        failed[i] = type(exc).__name__
                    continue
            tp = (r.topic, self._partition(parts, r.key))
            chain = chains.get(tp)
            if chain is None:
                chains[tp] = [i]
            else:
                chain.append(i)
        results = await asyncio.gather(*(self._chain(tp, idxs, records)
                                         for tp, idxs in chains.items()))
        for chain_pending, chain_failed, chain_error in results:
            pending.extend(chain_pending)
            failed.update(chain_failed)
            error = error or chain_error
        if pending:
            # Metadata may be stale (partitions added, leader moved): ask again next time.
            self._partitions.clear()
        self.healthy = not pending
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
            # Closed: complete as built, so the sender takes it at once instead of
            # lingering (linger_ms) for records that will never come.
            batch.close()
            try:
                fut = await self._producer.send_batch(batch, tp[0], partition=tp[1])
                await fut
            except Exception as exc:
                if retriable(exc):
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
            batch.close()
            try:
                await (await self._producer.send_batch(batch, tp[0], partition=tp[1]))
            except Exception as exc:
                if retriable(exc):
                    return idxs[k:], failed, type(exc).__name__
                failed[i] = type(exc).__name__
        return [], failed, ""
