"""A real broker crash: Tansu on S3 storage (ministack) is SIGKILLed and restarted.

Topics, records and a consumer group's committed offsets must all be there afterwards,
the group must resume from its commits, and producing must work again.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka_helpers import TopicReader, ToSend, committed, create_topics, produce
from s3broker import S3Broker

TOPIC = "restart.records"
GROUP = "g.restart"
N = 200
#: offsets the group commits before the crash, per partition (of 100 records each)
COMMIT = {0: 60, 1: 35}
#: short group timeouts: Tansu lets a new member join a group only after the previous
#: member's session has run out, even when that member left cleanly (measured: about
#: 11 s with a 6 s session, 7 s with 3 s; with or without a broker restart in between)
GROUP_TIMEOUTS = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 500,
                  "rebalance_timeout_ms": 3000, "max_poll_interval_ms": 3000}


def _values(partition: int, count: int, start: int = 0) -> list[bytes]:
    return [f"p{partition}-{i:03d}".encode() for i in range(start, start + count)]


async def _consume_and_commit(bootstrap: str) -> None:
    """Join the group, read what it is given, commit :data:`COMMIT`, leave."""
    c = AIOKafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id=GROUP,
                         enable_auto_commit=False, auto_offset_reset="earliest",
                         **GROUP_TIMEOUTS)
    await c.start()
    try:
        seen: dict[int, int] = {}
        while any(seen.get(p, 0) < n for p, n in COMMIT.items()):
            batches = await asyncio.wait_for(c.getmany(timeout_ms=500), 30)
            for tp, recs in batches.items():
                seen[tp.partition] = seen.get(tp.partition, 0) + len(recs)
        await c.commit({TopicPartition(TOPIC, p): off for p, off in COMMIT.items()})
    finally:
        await c.stop()


async def _first_positions(bootstrap: str) -> dict[int, tuple[int, bytes | None]]:
    """Join the group again: partition → (offset, value) of the first record it gets."""
    c = AIOKafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id=GROUP,
                         enable_auto_commit=False, auto_offset_reset="earliest",
                         **GROUP_TIMEOUTS)
    await c.start()
    try:
        first: dict[int, tuple[int, bytes | None]] = {}
        while len(first) < len(COMMIT):
            batches = await asyncio.wait_for(c.getmany(timeout_ms=500), 30)
            for tp, recs in batches.items():
                if recs:
                    first.setdefault(tp.partition, (recs[0].offset, recs[0].value))
        return first
    finally:
        await c.stop()


async def _read_all(bootstrap: str, count: int) -> dict[int, list[bytes | None]]:
    async with TopicReader(bootstrap, [TOPIC]) as reader:
        recs = await reader.wait_for(lambda r: len(r) >= count, timeout=60,
                                     what=f"{count} records")
    out: dict[int, list[bytes | None]] = {0: [], 1: []}
    for r in sorted(recs, key=lambda r: (r.partition, r.offset)):
        out[r.partition].append(r.value)
    return out


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_records_and_commits_survive_a_broker_sigkill(s3_broker: S3Broker) -> None:
    b = s3_broker
    per_partition = N // 2

    async def before_crash() -> dict[int, int | None]:
        await create_topics(b.bootstrap, [TOPIC], partitions=2)
        await produce(b.bootstrap, TOPIC, [ToSend(v, partition=p) for p in (0, 1)
                                           for v in _values(p, per_partition)])
        await _consume_and_commit(b.bootstrap)
        return await committed(b.bootstrap, GROUP, TOPIC)

    assert asyncio.run(before_crash()) == COMMIT

    pid = b.pid
    assert pid is not None
    b.kill()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    b.restart()
    assert b.pid not in (None, pid)

    async def after_restart() -> None:
        assert await committed(b.bootstrap, GROUP, TOPIC) == COMMIT, b.log_tail()
        assert await _read_all(b.bootstrap, N) == {p: _values(p, per_partition)
                                                   for p in (0, 1)}
        # the group resumes exactly at its commits
        first = await _first_positions(b.bootstrap)
        assert first == {p: (off, _values(p, 1, start=off)[0]) for p, off in COMMIT.items()}
        # and the broker takes new records after the old ones
        await produce(b.bootstrap, TOPIC, [ToSend(v, partition=p) for p in (0, 1)
                                           for v in _values(p, 5, start=per_partition)])
        assert await _read_all(b.bootstrap, N + 10) == {
            p: _values(p, per_partition + 5) for p in (0, 1)}

    asyncio.run(after_restart())
