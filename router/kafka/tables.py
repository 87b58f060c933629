"""Live tables from compacted topics (``stellwerk.routes``, ``mima.cases``, …).

One feed per table: it reads the topic from the beginning, applies every record to the
table, says when it has read to the end (nothing is routed before), and keeps applying
updates until stop. Topics that entries route to are created before they are used; a
topic the broker refuses takes its entries out of service (``refuse``).
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from ..config import Config
from ..core.tables import LiveTable
from .admin import create_topics
from .client import close_bounded, connection_kwargs, start_with_retry

__all__ = ["follow_routes", "follow_table"]

log = logging.getLogger("stellwerk.kafka")


async def follow_table(config: Config, bootstrap: str, topic: str, table: LiveTable,
                       loaded: asyncio.Event, stop: asyncio.Event) -> None:
    """Apply ``topic`` to ``table`` until stop; set ``loaded`` once the topic was read to
    its end (every partition's position at its end offset and at the high watermark of
    a fetch, and one fetch that brought nothing)."""
    consumer = AIOKafkaConsumer(**connection_kwargs(config.kafka, bootstrap),
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await start_with_retry(consumer, f"table {topic}", stop)
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            await consumer.topics()  # refreshes metadata
            parts = consumer.partitions_for_topic(topic) or {0}
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        known = table.topics()
        read = 0
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for r in records:
                    read += 1
                    if not table.apply(r.key, r.value):
                        log.warning("table %s: ignored malformed update at offset %d", topic,
                                    r.offset)
            if batches:
                current = table.topics()
                new = current - known
                if new:
                    for name, reason in (await create_topics(config, bootstrap, new,
                                                             stop)).items():
                        table.refuse(name, reason)
                known = current
                if loaded.is_set():
                    log.info("table %s updated: %d entries", topic, table.size())
            elif not loaded.is_set():
                # The embedded broker may report end offsets too low, so the fetch high
                # watermark counts too, and an empty fetch at the end is required.
                positions = {tp: await consumer.position(tp) for tp in tps}
                if all(positions[tp] >= max(end[tp], consumer.highwater(tp) or 0)
                       for tp in tps):
                    log.info("table %s loaded: %d entries (%d records read)", topic,
                             table.size(), read)
                    loaded.set()
    finally:
        await close_bounded(consumer.stop(), f"table {topic} consumer")


async def follow_routes(config: Config, bootstrap: str, table: LiveTable,
                        loaded: asyncio.Event, stop: asyncio.Event) -> None:
    """:func:`follow_table` on ``topics.routes``."""
    await follow_table(config, bootstrap, config.topics.routes, table, loaded, stop)
