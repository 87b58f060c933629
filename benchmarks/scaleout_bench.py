"""Scale-out: partitions × router worker processes → messages/s, on the embedded broker.

For every combination of ``--partitions`` and ``--workers`` one run: a fresh input topic
with P partitions gets ``--records`` pre-produced one-message interchanges (production
UV traffic, as in ``pipeline_bench.py``), then ``stellwerk run --workers W`` (W processes
in one consumer group) consumes them. Throughput is measured from the first commit of
the group to the commit of the last record, read from the broker's committed offsets
(group join and rebalances before the first commit are not timed), so it is what the
workers sustain once running. "per core" divides by the cores the workers can use
(min(W, CPUs)); the broker runs on the same machine and takes its share.

    uv run python benchmarks/scaleout_bench.py
    uv run python benchmarks/scaleout_bench.py --partitions 4 8 --workers 1 2 4 --records 20000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pipeline_bench import CARRIER_IK, build_inputs

from router.kafka.broker import EmbeddedBroker

TIMEOUT = 600.0


async def _prepare(bootstrap: str, topic: str, partitions: int, values: Sequence[bytes]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20,
                                max_batch_size=1 << 20)
    await producer.start()
    try:
        futures = [await producer.send(topic, v, key=str(i).encode())
                   for i, v in enumerate(values)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _committed(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> int:
    total = 0
    for tp in tps:
        total += await consumer.committed(tp) or 0
    return total


async def _measure(bootstrap: str, group: str, topic: str, partitions: int, n: int
                   ) -> tuple[float, float]:
    """(messages/s from the first commit to the last, seconds until the first commit)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    started = time.monotonic()
    first: tuple[float, int] | None = None
    try:
        while time.monotonic() - started < TIMEOUT:
            done = await _committed(consumer, tps)
            now = time.monotonic()
            if first is None and done:
                first = (now, done)
            if done >= n:
                assert first is not None
                if now == first[0]:
                    return float("nan"), first[0] - started
                return (done - first[1]) / (now - first[0]), first[0] - started
            await asyncio.sleep(0.05)
    finally:
        await consumer.stop()
    raise TimeoutError(f"{group}: not all {n} records committed within {TIMEOUT:.0f}s")


def run_one(bootstrap: str, values: Sequence[bytes], partitions: int, workers: int,
            tag: str) -> tuple[float, float]:
    prefix = f"scale.{tag}.p{partitions}.w{workers}"
    topics = {name: f"{prefix}.{name}" for name in
              ("inbound", "replies", "rejected", "unroutable", "test", "dlq", "routes",
               "replay")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("STELLWERK_")}
    env |= {f"STELLWERK_TOPICS_{name.upper()}": t for name, t in topics.items()}
    env |= {"STELLWERK_GROUP_ID": f"{prefix}.router", "STELLWERK_KIM_ENABLED": "false",
            "STELLWERK_TOPICS_PARTITIONS": str(partitions), "STELLWERK_LOG_LEVEL": "WARNING",
            "STELLWERK_ROUTES": msgspec.json.encode({CARRIER_IK: f"{prefix}.carrier"}).decode(),
            "STELLWERK_LIMITS_BLOB_DIR": f"/tmp/{prefix}.blobs"}
    asyncio.run(_prepare(bootstrap, topics["inbound"], partitions, values))
    proc = subprocess.Popen([sys.executable, "-m", "router.cli", "run", "--bootstrap",
                             bootstrap, "--workers", str(workers)], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        return asyncio.run(_measure(bootstrap, f"{prefix}.router", topics["inbound"],
                                    partitions, len(values)))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--partitions", type=int, nargs="+", default=[4])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--records", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=301)
    args = p.parse_args(argv)
    values, origin = build_inputs(args.records, args.seed)
    cpus = len(os.sched_getaffinity(0))
    tag = f"{os.getpid()}"
    broker = EmbeddedBroker()
    broker.start()
    rows = []
    load = os.getloadavg()[0]
    try:
        for partitions in args.partitions:
            for workers in args.workers:
                rate, join = run_one(broker.bootstrap, values, partitions, workers, tag)
                cores = min(workers, cpus)
                rows.append((partitions, workers, rate, rate / cores, join))
                print(f"partitions {partitions}, workers {workers}: {rate:,.0f} msg/s "
                      f"({rate / cores:,.0f} per core), first commit after {join:.1f} s",
                      flush=True)
    finally:
        broker.stop()
    print()
    print(f"- command: `uv run python benchmarks/scaleout_bench.py "
          f"{' '.join(argv if argv is not None else sys.argv[1:])}`".rstrip("` ") + "`")
    print(f"- {platform.python_version()}, {cpus} CPUs, load average before {load:.2f}; "
          f"embedded broker (Tansu, memory) on the same machine; inputs: {origin}")
    print()
    print("| partitions | worker processes | messages/s | per core | first commit after |")
    print("|---:|---:|---:|---:|---:|")
    for partitions, workers, rate, per_core, join in rows:
        print(f"| {partitions} | {workers} | {rate:,.0f} | {per_core:,.0f} | {join:.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
