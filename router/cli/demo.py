"""``stellwerk demo``: the main job on one machine.

Starts the embedded broker, creates the topics, sends the published DGUV examples plus
production variants and faulty ones, runs the router until every expected output is on
its topic, prints a table of records per output topic and exits 0 (1 on a mismatch).
The expected outputs come from the pure pipeline on the same inputs, so the table is
also a check that the Kafka run lost nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections import Counter

import msgspec

from sgb301 import ik_check_digit
from sgb301.examples import load, message, wrap

from ..app import configure_logging, run_async, serve
from ..config import Config, load_config
from ..core.records import InRecord
from ..families import build_pipeline
from ..kafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition, ensure_topics
from ..kafka.broker import EmbeddedBroker

__all__ = ["demo_inputs", "demo_main"]

log = logging.getLogger("stellwerk.demo")

HOSPITAL = "260510223"
BGHW = "12051098" + str(ik_check_digit("12051098"))  # a UV-Träger with a route
UNKNOWN = "12061098" + str(ik_check_digit("12061098"))  # valid IK, no route


def _production(name: str, receiver: str, **edits: bytes) -> bytes:
    msg = message(name).replace(b"120591481", receiver.encode())
    for old, new in edits.items():
        msg = msg.replace(old.encode(), new)
    return wrap(msg, sender=HOSPITAL, receiver=receiver, application_reference="EUVK0001")


def demo_inputs() -> list[tuple[str, bytes]]:
    """(label, record value) for every demo input."""
    out = [(f"seed {name} (UV test operation)", data) for name, data in load().items()]
    out += [
        ("AUFN to a UV-Träger with a route", _production("8.1.1-AUFN", BGHW)),
        ("ENTL to a UV-Träger with a route", _production("8.1.1-ENTL", BGHW)),
        ("AUFN to an IK without route", _production("8.1.2-AUFN", UNKNOWN)),
        ("AUFN with Verarbeitungskennzeichen 99 (34U05)",
         _production("8.1.2-AUFN", BGHW, **{"FKT+10+": b"FKT+99+"})),
        ("AUFN with Aufnahmegrund 0101 (34U03)",
         _production("8.1.2-AUFN", BGHW, **{"+0102+": b"+0101+"})),
        ("AMBO message (34U10)", _production("8.1.2-AUFN", BGHW, **{"AUFN:": b"AMBO:"})),
        ("AUFN version 11 (24U01)", _production("8.1.2-AUFN", BGHW, **{"AUFN:13": b"AUFN:11"})),
        ("interchange with wrong UNZ count (Prüfstufe 1)",
         _production("8.1.1-AUFN", BGHW).replace(b"UNZ+1+", b"UNZ+2+")),
        ("not an interchange at all", b"%PDF-1.7 this is not EDIFACT"),
    ]
    return out


async def _collect(config: Config, bootstrap: str, topics: list[str], expected: Counter[str],
                   timeout: float) -> Counter[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    seen: Counter[str] = Counter()
    try:
        await consumer.topics()
        tps = [TopicPartition(t, p) for t in topics
               for p in (consumer.partitions_for_topic(t) or {0})]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout
        while seen != expected and time.monotonic() < deadline:
            for tp, recs in (await consumer.getmany(timeout_ms=300)).items():
                seen[tp.topic] += len(recs)
    finally:
        await consumer.stop()
    return seen


async def _demo(config: Config, bootstrap: str) -> int:
    inputs = demo_inputs()
    pure = build_pipeline(config)
    expected: Counter[str] = Counter()
    for i, (_, value) in enumerate(inputs):
        for o in pure.process(InRecord(config.topics.inbound, 0, i, None, value, 0)):
            expected[o.topic] += 1
    await ensure_topics(config, bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(config.topics.inbound, value) for _, value in inputs]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    log.info("sent %d records to %s", len(inputs), config.topics.inbound)
    stop = asyncio.Event()
    router = asyncio.create_task(serve(config, bootstrap, stop))
    seen = await _collect(config, bootstrap, sorted(expected), expected, timeout=60)
    stop.set()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(router, 30)
    width = max(len(t) for t in expected)
    sys.stdout.write(f"\n{len(inputs)} input records on {config.topics.inbound}\n\n")
    sys.stdout.write(f"| {'output topic':<{width}} | records | expected |\n")
    sys.stdout.write(f"|{'-' * (width + 2)}|---------|----------|\n")
    for topic in sorted(expected):
        sys.stdout.write(f"| {topic:<{width}} | {seen[topic]:>7} | {expected[topic]:>8} |\n")
    ok = seen == expected
    sys.stdout.write("\nall inputs accounted for\n" if ok else "\nMISMATCH: outputs missing\n")
    return 0 if ok else 1


def demo_main() -> int:
    """Run the demo on a fresh embedded broker."""
    configure_logging("WARNING")
    base = load_config(None, env={})
    config = msgspec.structs.replace(base, routes={BGHW: "uv.bghw"}, poll_timeout_ms=100)
    broker = EmbeddedBroker()
    broker.start()
    sys.stdout.write(f"embedded broker at {broker.bootstrap}\n")
    try:
        return run_async(lambda: _demo(config, broker.bootstrap))
    finally:
        broker.stop()
