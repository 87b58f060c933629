"""Consumer-group lag read from the broker, independent of the routers themselves.

A router reports its own lag, but a router that is frozen, dead or stuck in a rebalance
reports nothing; the broker still knows what the group committed and where each
partition ends. :class:`GroupOffsets` reads both for the router's consumer groups, which
is what the stall alert needs ("no commit while input waits") and what
``stellwerk lag-exporter`` publishes.
"""

from __future__ import annotations

import asyncio
import logging
import time

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from ..config import Config
from .client import close_bounded, connection_kwargs, start_with_retry

__all__ = ["GroupOffsets", "PartitionOffsets", "router_groups"]

log = logging.getLogger("stellwerk.lag")


class PartitionOffsets(msgspec.Struct, frozen=True):
    """One partition of a group's input: its committed offset (-1: none yet) and end."""

    group: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        """Records not yet committed by the group (all of them without a commit)."""
        return max(0, self.end - max(self.committed, 0))


def router_groups(config: Config) -> dict[str, list[str]]:
    """Consumer group → input topics of the routers run with ``config`` (the §301 lane
    uses ``group_id``, the KIM lane ``group_id.kim``; see :mod:`router.app`)."""
    groups = {config.group_id: [config.topics.inbound, config.topics.replay]}
    if config.kim.enabled:
        groups[f"{config.group_id}.kim"] = [config.kim.inbound]
    return groups


class GroupOffsets:
    """Reads committed and end offsets of consumer groups (never joins them)."""

    def __init__(self, config: Config, bootstrap: str, groups: dict[str, list[str]]) -> None:
        self._groups = groups
        kw = connection_kwargs(config.kafka, bootstrap)
        # A consumer with a group id but no subscription only asks the coordinator for
        # the group's offsets (OffsetFetch); it never becomes a member.
        self._consumers = {g: AIOKafkaConsumer(**kw, group_id=g, enable_auto_commit=False)
                           for g in groups}
        # No group: fetches at a committed offset to learn the high watermark.
        self._fetcher = AIOKafkaConsumer(**kw, enable_auto_commit=False,
                                         max_partition_fetch_bytes=1, fetch_max_wait_ms=10)

    async def start(self, stop: asyncio.Event | None = None) -> None:
        """Connect (with retry until ``stop``)."""
        for group, consumer in self._consumers.items():
            await start_with_retry(consumer, f"lag probe {group}", stop)
        await start_with_retry(self._fetcher, "lag probe", stop)

    async def stop(self) -> None:
        """Close the connections."""
        await asyncio.gather(*(close_bounded(c.stop(), "lag probe")
                               for c in (*self._consumers.values(), self._fetcher)))

    async def _high_watermarks(self, at: dict[TopicPartition, int]) -> dict[TopicPartition,
                                                                            int]:
        """High watermarks of a fetch at the reported end offsets: some brokers (the
        embedded one) report end offsets too low, which would hide a waiting input. On a
        broker whose end offsets are exact the fetch at the end returns no records, so
        it costs a round trip and no data; elsewhere at most one small batch."""
        fetcher = self._fetcher
        fetcher.assign(list(at))
        for tp, offset in at.items():
            fetcher.seek(tp, offset)
        loop = asyncio.get_running_loop()
        started = loop.time()
        since = int(time.time() * 1000)
        while loop.time() - started < 2.0:
            await fetcher.getmany(timeout_ms=100)
            if all((fetcher.last_poll_timestamp(tp) or 0) >= since for tp in at):
                break
        return {tp: hw for tp in at if (hw := fetcher.highwater(tp)) is not None}

    async def read(self) -> list[PartitionOffsets]:
        """Offsets of every partition of every group's input topics."""
        out: list[PartitionOffsets] = []
        for group, topics in self._groups.items():
            consumer = self._consumers[group]
            # the cluster as the broker tells now (the client's own copy knows only the
            # topics that existed when it started): topics created later, partitions added
            cluster = await consumer._client.fetch_all_metadata()
            tps = [TopicPartition(t, p) for t in topics
                   for p in sorted(cluster.partitions_for_topic(t) or ())]
            if not tps:
                continue
            ends = await consumer.end_offsets(tps)
            committed = {tp: await consumer.committed(tp) for tp in tps}
            for tp, hw in (await self._high_watermarks(ends)).items():
                ends[tp] = max(ends[tp], hw)
            out.extend(PartitionOffsets(group, tp.topic, tp.partition,
                                        -1 if committed[tp] is None else committed[tp],
                                        ends[tp]) for tp in tps)
        return out
