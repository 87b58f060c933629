"""Topic administration: the configured topics at start, route and case topics live."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from ..config import Config
from .client import close_bounded, connection_kwargs, retriable, start_with_retry

__all__ = ["create_topics", "ensure_topics"]

log = logging.getLogger("stellwerk.kafka")


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
        compacted = [t.routes]
        k = config.kim
        if k.enabled:
            names += [k.inbound, k.quarantine, k.notices, *sorted(set(k.cases.values()))]
            # kim.unmatched is compacted too: a released mail is cleared by a tombstone.
            compacted += [k.cases_topic, k.unmatched]
        wanted = [NewTopic(n, t.partitions, t.replication) for n in dict.fromkeys(names)
                  if n not in existing and n not in compacted]
        wanted += [NewTopic(n, 1 if n != k.unmatched else t.partitions, t.replication,
                            topic_configs={"cleanup.policy": "compact"})
                   for n in dict.fromkeys(compacted) if n not in existing]
        if wanted:
            # Another router instance may have been quicker.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
            log.info("created topics: %s", ", ".join(w.name for w in wanted))
    finally:
        await admin.close()


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
                if retriable(exc):
                    raise
                refused[name] = type(exc).__name__
                log.error("broker refused route topic %s (%s); its IKs go to %s", name,
                          type(exc).__name__, t.unroutable)
    finally:
        await close_bounded(admin.close(), "admin")
    return refused
