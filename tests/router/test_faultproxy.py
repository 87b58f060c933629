"""The fault proxy in front of the real embedded broker (``proxied_broker`` fixture).

The broker advertises the proxy's address, so after the bootstrap every connection of
aiokafka goes through the proxy too: the faults hit all of them.
"""

from __future__ import annotations

import asyncio
import doctest
import os
import signal
import socket
import time
import uuid
from pathlib import Path

import faultproxy
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from faultproxy import ProxiedBroker
from kafka_helpers import TopicReader, produce


def _topic(tag: str) -> str:
    return f"fp.{tag}.{uuid.uuid4().hex[:8]}"


def _producer(bootstrap: str, **kw: int) -> AIOKafkaProducer:
    """acks=all, no linger; sends whose order a test checks name partition 0, as an
    auto-created topic has several partitions."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0, **kw)


def test_module_examples() -> None:
    assert doctest.testmod(faultproxy).failed == 0


def test_produce_and_consume_go_through_the_proxy(proxied_broker: ProxiedBroker) -> None:
    pb = proxied_broker
    topic = _topic("rt")
    values = [f"v{i}".encode() for i in range(20)]

    async def scenario() -> tuple[set[tuple[str, int]], list[bytes | None]]:
        p = _producer(pb.bootstrap)
        await p.start()
        try:
            await asyncio.gather(*[await p.send(topic, v) for v in values])
            brokers = {(b.host, b.port) for b in p.client.cluster.brokers()}
        finally:
            await p.stop()
        async with TopicReader(pb.bootstrap, [topic]) as reader:
            recs = await reader.wait_for(lambda r: len(r) >= len(values), timeout=30)
        return brokers, [r.value for r in recs]

    brokers, got = asyncio.run(scenario())
    assert brokers == {("127.0.0.1", pb.proxy.port)}, "broker must advertise the proxy"
    assert sorted(got, key=lambda v: int(v[1:]) if v else -1) == values
    s = pb.proxy.stats()
    assert s.connections >= 2  # at least one per client
    assert s.bytes_up > sum(map(len, values)) and s.bytes_down > sum(map(len, values))


def test_cut_closes_connections_and_aiokafka_reconnects(proxied_broker: ProxiedBroker) -> None:
    pb = proxied_broker
    topic = _topic("cut")

    async def scenario() -> None:
        p = _producer(pb.bootstrap)
        await p.start()
        try:
            await p.send_and_wait(topic, b"before", partition=0)
            before = pb.proxy.stats()
            # called blocking on purpose: aiokafka must not reconnect before we look
            assert pb.proxy.cut() >= 1
            assert pb.proxy.stats().active == 0
            await asyncio.wait_for(p.send_and_wait(topic, b"after", partition=0), 20)
            assert pb.proxy.stats().connections > before.connections, "no reconnect seen"
        finally:
            await p.stop()
        async with TopicReader(pb.bootstrap, [topic]) as reader:
            recs = await reader.wait_for(lambda r: len(r) >= 2, timeout=30)
        assert [r.value for r in recs] == [b"before", b"after"]

    asyncio.run(scenario())


def test_blackhole_times_sends_out_until_restore(proxied_broker: ProxiedBroker) -> None:
    pb = proxied_broker
    topic = _topic("bh")

    async def scenario() -> None:
        p = _producer(pb.bootstrap, request_timeout_ms=1000, retry_backoff_ms=100)
        await p.start()
        try:
            await p.send_and_wait(topic, b"first", partition=0)
            pb.proxy.blackhole()
            t0 = time.monotonic()
            with pytest.raises(KafkaError):
                await asyncio.wait_for(p.send_and_wait(topic, b"frozen", partition=0), 20)
            assert time.monotonic() - t0 < 15
            pb.proxy.restore()
            await asyncio.wait_for(p.send_and_wait(topic, b"healed", partition=0), 20)
        finally:
            await p.stop()
        async with TopicReader(pb.bootstrap, [topic]) as reader:
            recs = await reader.wait_for(lambda r: b"healed" in [x.value for x in r], 30)
        # "frozen" timed out on the client but may still have reached the broker once the
        # network healed (held, as TCP would retransmit it): at-least-once territory.
        assert [r.value for r in recs if r.value != b"frozen"] == [b"first", b"healed"]

    asyncio.run(scenario())


def test_latency_delays_each_round_trip(proxied_broker: ProxiedBroker) -> None:
    pb = proxied_broker
    topic = _topic("lat")

    async def timed_send(p: AIOKafkaProducer, value: bytes) -> float:
        t0 = time.monotonic()
        await p.send_and_wait(topic, value)
        return time.monotonic() - t0

    async def scenario() -> tuple[float, float]:
        p = _producer(pb.bootstrap)
        await p.start()
        try:
            await p.send_and_wait(topic, b"warm")  # metadata and connections in place
            pb.proxy.latency(150, "down")
            slow = await timed_send(p, b"slow")
            pb.proxy.restore()
            fast = await timed_send(p, b"fast")
        finally:
            await p.stop()
        return slow, fast

    slow, fast = asyncio.run(scenario())
    assert slow >= 0.15
    assert fast < 0.15


def test_refuse_closes_new_connections_only(proxied_broker: ProxiedBroker) -> None:
    pb = proxied_broker
    topic = _topic("ref")

    async def scenario() -> None:
        p = _producer(pb.bootstrap)
        await p.start()
        try:
            await p.send_and_wait(topic, b"one")
            pb.proxy.refuse()
            assert await asyncio.to_thread(_closed_at_once, pb.proxy.port)
            await asyncio.wait_for(p.send_and_wait(topic, b"two"), 10)  # old connection
            assert pb.proxy.stats().refused == 1
            pb.proxy.restore()
            await produce(pb.bootstrap, topic, [b"three"])  # a new client gets through
        finally:
            await p.stop()

    asyncio.run(scenario())


def _closed_at_once(port: int) -> bool:
    """A fresh TCP connection to ``port`` is closed by the other side within 2 s."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"\0\0\0\0")
        try:
            return s.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False


async def _stopped(pid: int, timeout: float = 5.0) -> None:
    """Wait until ``pid`` is in state T (stopped), as /proc tells."""
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
        assert time.monotonic() < deadline, f"process {pid} not stopped"
        await asyncio.sleep(0.005)


def test_pid_is_the_broker_process(proxied_broker: ProxiedBroker) -> None:
    cmdline = Path(f"/proc/{proxied_broker.pid}/cmdline").read_bytes().split(b"\0")
    assert b"broker" in cmdline
    assert f"tcp://{proxied_broker.bootstrap}".encode() in cmdline  # advertised listener
    assert proxied_broker.broker.bootstrap != proxied_broker.bootstrap


def test_sigstopped_broker_times_sends_out_and_stops_promptly(
        proxied_broker: ProxiedBroker) -> None:
    pb = proxied_broker
    topic = _topic("stop")
    pid = pb.pid

    async def scenario() -> None:
        p = _producer(pb.bootstrap, request_timeout_ms=1000, retry_backoff_ms=100)
        await p.start()
        try:
            await p.send_and_wait(topic, b"first", partition=0)
            os.kill(pid, signal.SIGSTOP)
            # the signal is delivered asynchronously: send only once the broker is frozen
            await _stopped(pid)
            with pytest.raises(KafkaError):
                await asyncio.wait_for(p.send_and_wait(topic, b"frozen", partition=0), 20)
            os.kill(pid, signal.SIGCONT)
            await asyncio.wait_for(p.send_and_wait(topic, b"thawed", partition=0), 20)
        finally:
            await p.stop()

    asyncio.run(scenario())
    os.kill(pid, signal.SIGSTOP)
    t0 = time.monotonic()
    pb.broker.stop()  # continues it first, so the SIGTERM is not left pending
    assert time.monotonic() - t0 < 4
    assert pb.broker.pid is None
