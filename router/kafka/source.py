"""The consumer-group source: explicit offsets per partition, only assigned ones committed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from ..config import Config
from ..core.ports import TransientError
from ..core.records import InRecord
from .client import (
    MAX_RECORD_BYTES,
    close_bounded,
    connected,
    connection_kwargs,
    retriable,
    start_with_retry,
)

__all__ = ["KafkaSource"]

log = logging.getLogger("stellwerk.kafka")


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Logs partition moves and counts them; the loop commits per batch, so nothing is
    pending here."""

    def __init__(self, source: KafkaSource) -> None:
        self._source = source

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            self._source.done.pop(tp, None)
        if revoked:
            log.info("partitions revoked: %s", sorted(f"{p.topic}/{p.partition}"
                                                      for p in revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._source.rebalances += 1
        log.info("partitions assigned: %s", sorted(f"{p.topic}/{p.partition}"
                                                   for p in assigned))


class KafkaSource:
    """Consumer-group source; auto-commit off, explicit offsets per partition."""

    def __init__(self, config: Config, bootstrap: str, topics: list[str],
                 stop: asyncio.Event | None = None, *, group_id: str | None = None) -> None:
        self._stop = stop or asyncio.Event()
        self._consumer = AIOKafkaConsumer(
            **connection_kwargs(config.kafka, bootstrap),
            group_id=group_id or config.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Default 500 ms: with a quiet topic every batch would wait that long.
            fetch_max_wait_ms=100,
            max_poll_interval_ms=config.kafka.max_poll_interval_ms,
            session_timeout_ms=config.kafka.session_timeout_ms,
            heartbeat_interval_ms=config.kafka.heartbeat_interval_ms,
            max_partition_fetch_bytes=MAX_RECORD_BYTES,
            fetch_max_bytes=4 * MAX_RECORD_BYTES,
        )
        self._topics = topics
        #: State for metrics and readiness, read at scrape time.
        self.rebalances = 0  # assignments received (0: not in the group yet)
        self.healthy = False  # the last poll or commit reached the broker
        self.last_commit = 0.0  # wall-clock time of the last successful commit
        self.done: dict[TopicPartition, int] = {}  # next offset after committed records
        #: Send LeaveGroup on stop (``kafka.leave_group``; the lane turns it off for
        #: ``auto`` on a broker that is not Apache Kafka).
        self.leave_group = config.kafka.leave_group != "off"

    async def start(self, stop: asyncio.Event | None = None) -> None:
        """Connect (with retry) and join the group."""
        await start_with_retry(self._consumer, "consumer", stop)
        self.healthy = True
        self._consumer.subscribe(self._topics, listener=_Listener(self))

    def broker_up(self) -> bool:
        """The last commit (or start) succeeded and a broker connection is open."""
        return self.healthy and connected(self._consumer)

    def assigned(self) -> int:
        """Partitions assigned now."""
        return len(self._consumer.assignment())

    def lag(self) -> Iterator[tuple[str, int, int]]:
        """(topic, partition, records behind) of every assigned partition whose end is
        known: the fetch high watermark minus the next offset to process. Revoked
        partitions are simply absent."""
        consumer = self._consumer
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:
                continue
            pos = self.done.get(tp)
            if pos is None:
                pos = _fetch_position(consumer, tp)
                if pos is None:
                    continue
            yield tp.topic, tp.partition, max(0, end - pos)

    async def stop(self) -> None:
        """Leave the group (where the broker lets us and :attr:`leave_group` is set) and
        close, in bounded time."""
        if not self.leave_group:
            _skip_leave_group(self._consumer)
        await close_bounded(self._consumer.stop(), "consumer")

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
            self.healthy = False
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
            self.healthy = False
            if not retriable(exc):
                log.error("commit refused (%s); the batch is replayed after a restart",
                          type(exc).__name__)
                return
            raise TransientError(f"commit: {type(exc).__name__}") from exc
        else:
            self.healthy = True
            self.last_commit = time.time()
            self.done.update(mine)


def _skip_leave_group(consumer: AIOKafkaConsumer) -> None:
    """Make ``consumer.stop()`` forget its membership instead of sending LeaveGroup.

    aiokafka has no switch for it (it skips LeaveGroup only for static members, which
    the embedded broker handles worse), so the coordinator's leave step is replaced
    with the part of it that resets the local member id and generation."""
    coordinator = getattr(consumer, "_coordinator", None)
    if coordinator is None or not hasattr(coordinator, "_maybe_leave_group"):
        return  # not in a group, or an aiokafka without this step: leave as usual

    async def forget() -> None:
        coordinator.reset_generation()

    coordinator._maybe_leave_group = forget


def _fetch_position(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int | None:
    """The consumer's fetch position of ``tp`` without awaiting (aiokafka keeps it in
    its subscription state; ``position()`` would wait for a reset)."""
    try:
        state = consumer._subscription.subscription.assignment.state_value(tp)
        return int(state.position) if state is not None and state.has_valid_position else None
    except (AttributeError, KeyError, TypeError):
        return None
