"""The broker dies mid-traffic (SIGKILL) and comes back: a real broker restart.

The broker is Tansu on S3 storage (``s3_broker`` fixture: ministack on disk), so topics,
records and committed offsets survive the kill, as with Apache Kafka.

* While the broker is gone the router stays up and retries; after the restart it
  reconnects, resumes from its committed offsets, and every message sent before, during
  and after the outage ends in its terminal topic (duplicates only with the same id).
* SIGTERM while the broker is gone: the router exits 0 within the stop bound and has
  committed nothing it had not delivered (checked after the restart: every committed
  input record has its outputs).
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from kafka_helpers import (
    RouterProcess,
    TopicReader,
    TopicSet,
    committed,
    create_topics,
    end_offsets,
    produce,
)
from s3broker import S3Broker
from traffic import IK_A, IK_B, PRODUCTION_TYPES, Outcome, Traffic, assert_no_health_data


def _traffic(t: TopicSet, routes: dict[str, str], n: int) -> Traffic:
    traffic = Traffic(t, routes, case_base=4_000_000)
    for i in range(n):
        traffic.production((IK_A, IK_B)[i % 2], [PRODUCTION_TYPES[i % 4]])
    return traffic


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_broker_killed_mid_traffic_and_restarted_loses_nothing(
        s3_broker: S3Broker, tmp_path: Path) -> None:
    t = TopicSet.unique("loss")
    routes = {IK_A: t.carrier("a"), IK_B: t.carrier("b")}
    traffic = _traffic(t, routes, 240)
    inputs = [i.to_send() for i in traffic.inputs]
    before, after = inputs[:160], inputs[160:]
    router = RouterProcess(s3_broker.bootstrap, t.env(routes=routes, partitions=2, batch_max=5),
                           tmp_path / "router.log")

    async def scenario() -> None:
        await create_topics(s3_broker.bootstrap, [t.inbound], 2)
        router.start()
        await router.wait_assigned(90)
        await produce(s3_broker.bootstrap, t.inbound, before)
        # Kill the broker as soon as the router is under way (batches of 5 in flight).
        async with TopicReader(s3_broker.bootstrap, traffic.output_topics()) as reader:
            await reader.wait_for(lambda recs: len(recs) >= 10, 60, what="first outputs")
        s3_broker.kill()
        killed_at = time.monotonic()
        await router.wait_log(r"not acknowledged|commit failed|Unable connect|closed", 30)
        await asyncio.sleep(3)
        assert router.running(), router.log_tail()
        s3_broker.restart()
        print(f"broker down for {time.monotonic() - killed_at:.1f}s")
        await produce(s3_broker.bootstrap, t.inbound, after)
        async with TopicReader(s3_broker.bootstrap, traffic.output_topics()) as reader:
            try:
                await reader.wait_for(lambda recs: not Outcome(traffic, recs).missing(), 150,
                                      what="every expected output")
            except AssertionError as exc:
                missing = Outcome(traffic, reader.records).missing()
                raise AssertionError(f"{exc}; missing {missing[:10]}\n{router.log_tail()}"
                                     ) from None
            outcome = Outcome(traffic, await reader.read())
        stats = outcome.check(duplicates_allowed=True)
        outcome.check_order(first_occurrence=True)
        print(f"{len(inputs)} inputs across a broker restart → {dict(stats)}")
        router.send_signal(signal.SIGTERM)
        assert await router.wait_exit(10) == 0
        done = await committed(s3_broker.bootstrap, t.group, t.inbound)
        ends = await end_offsets(s3_broker.bootstrap, t.inbound)
        assert all((done.get(p) or 0) == e for p, e in ends.items()), (done, ends)

    try:
        asyncio.run(scenario())
    finally:
        router.close()
        print(router.log_tail(30))
        assert_no_health_data(router.log(), "router.log")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigterm_while_the_broker_is_gone_commits_nothing_undelivered(
        s3_broker: S3Broker, tmp_path: Path) -> None:
    t = TopicSet.unique("gone")
    routes = {IK_A: t.carrier("a"), IK_B: t.carrier("b")}
    traffic = _traffic(t, routes, 200)
    router = RouterProcess(s3_broker.bootstrap, t.env(routes=routes, partitions=2, batch_max=5),
                           tmp_path / "router.log")

    async def scenario() -> None:
        await create_topics(s3_broker.bootstrap, [t.inbound], 2)
        router.start()
        await router.wait_assigned(90)
        await produce(s3_broker.bootstrap, t.inbound, [i.to_send() for i in traffic.inputs])
        async with TopicReader(s3_broker.bootstrap, traffic.output_topics()) as reader:
            await reader.wait_for(lambda recs: len(recs) >= 10, 60, what="first outputs")
        s3_broker.kill()
        await asyncio.sleep(1.0)
        t0 = time.monotonic()
        router.send_signal(signal.SIGTERM)
        code = await router.wait_exit(15)
        took = time.monotonic() - t0
        print(f"SIGTERM with the broker gone → exit {code} in {took:.1f}s")
        assert code == 0 and took < 10, router.log_tail()
        s3_broker.restart()
        done = await committed(s3_broker.bootstrap, t.group, t.inbound)
        # The outputs that stand for input records (replies are extra, not checked).
        topics = [topic for topic in traffic.output_topics() if topic != t.replies]
        async with TopicReader(s3_broker.bootstrap, topics) as reader:
            # The restarted broker reads every partition back from S3 (ministack, a Python
            # server): on a loaded machine that alone took over 30 s once. A batch in
            # flight when the broker was killed can leave a high watermark past records
            # it never serves (seen once at the end of s301.replies): what is missing for
            # a committed record still fails the check below.
            recs = await reader.read(timeout=150, settle=60)
        delivered: dict[int, set[int]] = {}
        for r in recs:
            src = r.envelope()["source"]
            delivered.setdefault(src["partition"], set()).add(src["offset"])
        for p, upto in done.items():
            missing = set(range(upto or 0)) - delivered.get(p, set())
            assert not missing, f"partition {p}: committed up to {upto} without outputs for " \
                                f"offsets {sorted(missing)[:10]}"
        print(f"committed {done}; outputs for every committed record")

    try:
        asyncio.run(scenario())
    finally:
        router.close()
        print(router.log_tail(30))
