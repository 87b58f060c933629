"""Broker-side group offsets (``stellwerk lag-exporter``): topics created after the
exporter started, lag from committed and end offsets, a group without commits."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka_helpers import ToSend, create_topics, produce

from router.config import load_config
from router.kafka.broker import EmbeddedBroker
from router.kafka.lag import GroupOffsets, router_groups


def test_offsets_of_a_topic_created_after_the_exporter_started(broker: EmbeddedBroker
                                                                ) -> None:
    topic, group = f"lag.in.{uuid.uuid4().hex[:8]}", f"lag.g.{uuid.uuid4().hex[:8]}"
    config = load_config(None, env={"STELLWERK_KIM_ENABLED": "false"})

    async def scenario() -> None:
        offsets = GroupOffsets(config, broker.bootstrap, {group: [topic]})
        await offsets.start()
        try:
            assert await offsets.read() == []  # no topic yet
            await create_topics(broker.bootstrap, [topic], 2)
            await produce(broker.bootstrap, topic, [ToSend(b"x", partition=0)] * 5
                          + [ToSend(b"y", partition=1)] * 2)
            rows = {r.partition: r for r in await offsets.read()}
            assert set(rows) == {0, 1}
            assert (rows[0].committed, rows[0].end, rows[0].lag) == (-1, 5, 5)
            consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group,
                                        enable_auto_commit=False)
            await consumer.start()
            try:
                consumer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
                await consumer.commit({TopicPartition(topic, 0): 2,
                                       TopicPartition(topic, 1): 2})
            finally:
                await consumer.stop()
            rows = {r.partition: r for r in await offsets.read()}
            assert (rows[0].committed, rows[0].lag) == (2, 3)
            assert (rows[1].committed, rows[1].lag) == (2, 0)
        finally:
            await offsets.stop()

    asyncio.run(scenario())


def test_router_groups_follow_the_config() -> None:
    cfg = load_config(None, env={"STELLWERK_GROUP_ID": "g"})
    assert router_groups(cfg) == {"g": ["s301.inbound", "stellwerk.replay"],
                                  "g.kim": ["kim.inbound"]}
    assert list(router_groups(load_config(None, env={"STELLWERK_KIM_ENABLED": "false"})))\
        == ["stellwerk"]
