"""The broker goes away mid-run: the router stays up, keeps retrying, and still stops
cleanly on SIGTERM without committing anything it has not delivered.

Recovery onto a *restarted* embedded broker is not asserted: the memory broker comes back
empty and, in this session's tries, the consumer's re-join on it did not complete. With
Apache Kafka the log and the group's commits survive a broker restart.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from kafka_helpers import RouterProcess, TopicReader, TopicSet, produce

from router.broker import EmbeddedBroker
from sgb301.examples import load


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_router_survives_the_broker_going_away(tmp_path: Path) -> None:
    t = TopicSet.unique("loss")
    broker = EmbeddedBroker()
    broker.start()
    router = RouterProcess(broker.bootstrap, t.env(partitions=1), tmp_path / "router.log")
    router.start()
    entl = load()["8.1.1-ENTL"]  # UV test operation: ends on the test topic

    async def scenario() -> None:
        await router.wait_log(r"routing s301\.inbound", timeout=60)
        await produce(broker.bootstrap, t.inbound, [entl] * 5)
        async with TopicReader(broker.bootstrap, [t.test]) as reader:
            await reader.wait_for(lambda recs: len(recs) >= 5, timeout=60)
        broker.stop()
        await router.wait_log(r"Unable connect to node|Connection at .* closed", timeout=30)
        await asyncio.sleep(5)
        assert router.running(), router.log_tail()
        router.send_signal(signal.SIGTERM)
        assert await router.wait_exit(60) == 0, router.log_tail()
        assert "stopped after 5 records" in router.log()

    try:
        asyncio.run(scenario())
    finally:
        if router.running():
            router.kill()
        broker.stop()
