"""The one place that talks to Kafka: consumer source, producer sink, admin, routes feed.

Everything here converts aiokafka objects to :mod:`router.records` and back, and turns
aiokafka's transient failures into :class:`~router.runner.TransientError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Coroutine
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, KafkaError, TopicAlreadyExistsError

from .config import Config, KafkaConfig
from .records import InRecord, OutRecord
from .routing import RoutingTable
from .runner import TransientError

__all__ = [
    "KafkaSink",
    "KafkaSource",
    "connection_kwargs",
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
            if (attempts and n >= attempts) or (stop is not None and stop.is_set()):
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
        names = [t.inbound, t.replies, t.rejected, t.unroutable, t.test, t.dlq,
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
        """Commit explicit next offsets; a lost partition is not an error (it is replayed
        by its new owner, ids make the duplicates harmless)."""
        try:
            await self._consumer.commit({TopicPartition(t, p): o for (t, p), o in
                                         offsets.items()})
        except CommitFailedError as exc:
            log.warning("commit rejected after a rebalance (%s); the new owner replays",
                        exc)
        except KafkaError as exc:
            raise TransientError(f"commit: {type(exc).__name__}") from exc


class KafkaSink:
    """Producer sink: send a whole batch, then gather every acknowledgement once."""

    def __init__(self, config: Config, bootstrap: str) -> None:
        # acks=all; idempotence stays off: the embedded broker does not support it, and
        # duplicates are harmless because ids are content-derived.
        self._producer = AIOKafkaProducer(
            **connection_kwargs(config.kafka, bootstrap),
            acks="all",
            linger_ms=5,
            max_request_size=MAX_RECORD_BYTES,
            request_timeout_ms=30000,
        )

    async def start(self, stop: asyncio.Event | None = None) -> None:
        """Connect with retry."""
        await start_with_retry(self._producer, "producer", stop)

    async def stop(self) -> None:
        """Flush and close, in bounded time (nothing unacknowledged was committed)."""
        await _close(self._producer.stop(), "producer")

    async def send_all(self, records: list[OutRecord]) -> None:
        """Produce in order, await all acks; TransientError if any failed."""
        try:
            send = self._producer.send
            futures = [await send(r.topic, r.value, key=r.key, headers=list(r.headers))
                       for r in records]
            await asyncio.gather(*futures)
        except KafkaError as exc:
            raise TransientError(f"send: {type(exc).__name__}") from exc


async def follow_routes(config: Config, bootstrap: str, table: RoutingTable,
                        loaded: asyncio.Event, stop: asyncio.Event,
                        on_change: Any = None) -> None:
    """Apply ``stellwerk.routes`` to ``table`` forever; set ``loaded`` once caught up
    with the end offsets seen at start."""
    consumer = AIOKafkaConsumer(**connection_kwargs(config.kafka, bootstrap),
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await start_with_retry(consumer, "routes", stop)
    try:
        parts = consumer.partitions_for_topic(config.topics.routes)
        if not parts:
            await consumer.topics()  # refreshes metadata
            parts = consumer.partitions_for_topic(config.topics.routes) or {0}
        tps = [TopicPartition(config.topics.routes, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        if all(o == 0 for o in end.values()):
            loaded.set()
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            changed = False
            for records in batches.values():
                for r in records:
                    if table.apply(r.key, r.value):
                        changed = True
                    else:
                        log.warning("ignored malformed route update at offset %d", r.offset)
            if changed:
                log.info("routing table updated: %d routes", len(table.snapshot()))
                if on_change is not None:
                    on_change(len(table.snapshot()))
            # The embedded broker may report end offsets too low; an empty poll at or
            # past them is the reliable sign that the table is complete.
            if not loaded.is_set() and not batches:
                positions = [await consumer.position(tp) for tp in tps]
                if all(pos >= end[tp] for pos, tp in zip(positions, tps, strict=True)):
                    loaded.set()
    finally:
        await consumer.stop()
