"""Stellwerk router end to end vs a bare aiokafka passthrough, on the embedded broker.

One run starts :class:`router.kafka.broker.EmbeddedBroker` and measures, on the same input
records (production UV traffic: application reference ``EUVK0001``, every FKT receiver IK
routed to a carrier topic; interchanges of one message from ``benchmarks/corpus.py``):

* throughput: R records are produced to an input topic first; then each pipeline
  consumes them in its own consumer group, from the first non-empty poll to the commit
  of the last record (group join not timed):

  - *passthrough, split* (the reference, as the issue defines it: consume → split →
    produce): ``getmany`` → cut every interchange into its messages (UNH … up to the
    next UNH or UNZ, found by search, nothing validated: :func:`split_messages`) →
    produce each message under the record's key to an output topic → gather the
    acknowledgements of the batch → commit explicit offsets; consumer and producer
    settings as :class:`router.kafka.KafkaSource` / ``KafkaSink``. It produces a record
    per message, as the router does (the router adds the replies);
  - *passthrough, unchanged*: the same, every record produced as it came (with
    one-message records the same work as the split; with five-message interchanges it
    moves five messages for the cost of one record);
  - *router*: :func:`router.loop.run_loop` with ``KafkaSource``, ``KafkaSink``,
    ``Pipeline`` and ``PrometheusObserver`` — what :func:`router.app.serve` runs, without
    the routes feed and the metrics HTTP server;
  - *core only* (reference, no Kafka): ``Pipeline.process`` over the same records.

* latency: with the pipeline running and caught up, records are produced at a steady
  rate (``--rate``, default a quarter of the measured router throughput and at most
  2,000/s, for ``--seconds``) to a fresh topic; per record, output CreateTime minus input
  CreateTime (both set by the producing client); p50 and p99.

Everything runs in this one process and event loop (uvloop where available), so the
load generator and the pipeline share the CPU. ``--profile`` adds a cProfile'd router run
(fresh consumer group, same records) and prints the top functions by tottime and cumtime.

    uv run python benchmarks/pipeline_bench.py
    uv run python benchmarks/pipeline_bench.py --records 5000 --seconds 2 --profile
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import io
import logging
import math
import os
import platform
import pstats
import shlex
import sys
import sysconfig
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

import sgb301
from router.app import run_async
from router.config import Config, load_config
from router.core.envelope import codec_for
from router.core.records import InRecord, OutRecord
from router.core.tables import RoutingTable
from router.families import build_pipeline
from router.kafka import MAX_RECORD_BYTES, KafkaSink, KafkaSource, ensure_topics
from router.kafka.broker import EmbeddedBroker
from router.logs import configure_logging
from router.loop import run_loop
from router.metrics import NullObserver, PrometheusObserver

GOAL_RATIO = 0.70  # router messages/s vs the split passthrough (issue)
# the passthroughs: the reference (consume → split → produce) and records unchanged
PASSTHROUGHS = ("passthrough", "passthrough-unchanged")
TEST_IK = "120591481"  # UV test IK: receiver of the generated KH→KT messages
CARRIER_IK = "12039000" + str(sgb301.ik_check_digit("12039000"))  # a production UV carrier
WAIT_TIMEOUT = 120.0
# Latency load without --rate: this share of the measured router throughput, at most
# MAX_AUTO_RATE. At half of it the router queued (p50 0.35-0.65 s, 2 busy cores).
AUTO_SHARE = 0.25
MAX_AUTO_RATE = 2000.0

log = logging.getLogger("pipeline_bench")


# ---- input records ----------------------------------------------------------------------


def _to_production(ic: bytes) -> bytes:
    """UV test interchange → production: marker EUVK0001, receiver IK ``CARRIER_IK``."""
    out = ic.replace(b"++TUVK0001'", b"++EUVK0001'").replace(
        b"+" + TEST_IK.encode(), b"+" + CARRIER_IK.encode())
    assert b"EUVK0001" in out and TEST_IK.encode() not in out
    return out


def _fallback_inputs(n: int) -> list[bytes]:
    """Interchanges from the published AUFN/ENTL examples (RECH ones are inconsistent)."""
    from sgb301 import examples  # noqa: PLC0415 - only without a usable corpus

    names = ("8.1.1-AUFN", "8.1.2-AUFN", "8.1.1-ENTL", "8.1.2-ENTL")
    bodies = [examples.message(name) for name in names]
    return [_to_production(examples.wrap(bodies[i % len(bodies)], sender=examples.HOSPITAL_IK,
                                         receiver=TEST_IK, reference=f"{i % 100_000 or 1:05d}"))
            for i in range(n)]


def build_inputs(n: int, seed: int, per_record: int = 1) -> tuple[list[bytes], str]:
    """``n`` production interchanges of ``per_record`` messages each; and where they
    come from."""
    try:
        from corpus import build_corpus  # noqa: PLC0415 - sibling script, may be unfinished

        corpus = build_corpus(n * per_record, per_record, seed,
                              weights={"AUFN": 0.30, "ENTL": 0.25, "RECH": 0.25, "KOUB": 0.0})
        return [_to_production(ic) for ic in corpus], (
            f"benchmarks/corpus.py build_corpus({n * per_record}, {per_record}, seed={seed}), "
            "AUFN/ENTL/RECH")
    except Exception as exc:  # the corpus generator is being finished elsewhere
        log.warning("corpus.py not usable (%s: %s); using the seed examples", type(exc).__name__,
                    exc)
        return _fallback_inputs(n), "sgb301.examples AUFN/ENTL (corpus.py not usable)"


def bench_config(prefix: str) -> Config:
    """A STELLWERK_… style configuration with topic names unique to this run."""
    topics = {name: f"{prefix}.{name}" for name in
              ("inbound", "replies", "rejected", "unroutable", "test", "dlq", "routes")}
    env = {f"STELLWERK_TOPICS_{name.upper()}": topic for name, topic in topics.items()}
    env |= {
        "STELLWERK_MODE": "uv",
        "STELLWERK_GROUP_ID": f"{prefix}.router",
        "STELLWERK_ROUTES": msgspec.json.encode({CARRIER_IK: f"{prefix}.uv.carrier"}).decode(),
        "STELLWERK_LOG_LEVEL": "WARNING",
    }
    return load_config(None, env=env)


def all_output_topics(config: Config) -> list[str]:
    t = config.topics
    return list(dict.fromkeys([*config.routes.values(), t.replies, t.rejected, t.unroutable,
                               t.test, t.dlq]))


# ---- measuring --------------------------------------------------------------------------


class Meter:
    """Records from the first non-empty poll to the commit of the last one."""

    def __init__(self) -> None:
        self.pending = 0
        self.done = 0
        self.t_first: float | None = None
        self.t_last = 0.0
        self.cpu_first = self.cpu_last = 0.0

    def polled(self, n: int) -> None:
        if n and self.t_first is None:
            self.t_first = time.perf_counter()
            self.cpu_first = time.process_time()
        self.pending += n

    def committed(self) -> None:
        self.done += self.pending
        self.pending = 0
        self.t_last = time.perf_counter()
        self.cpu_last = time.process_time()

    def rate(self) -> float:
        """Messages per wall-clock second."""
        assert self.t_first is not None
        return self.done / (self.t_last - self.t_first)

    def cpu_per_1k(self) -> float:
        """CPU milliseconds of this process per 1,000 messages."""
        return 1e6 * (self.cpu_last - self.cpu_first) / self.done

    async def wait_done(self, n: int, task: asyncio.Task[object]) -> None:
        deadline = time.monotonic() + WAIT_TIMEOUT
        while self.done < n:
            if task.done():
                task.result()
                raise RuntimeError(f"pipeline stopped after {self.done} of {n} records")
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.done} of {n} records after {WAIT_TIMEOUT}s")
            await asyncio.sleep(0.01)


class TimedSource:
    """A :class:`KafkaSource` that reports to a :class:`Meter`."""

    def __init__(self, source: KafkaSource, meter: Meter) -> None:
        self._source = source
        self._meter = meter

    async def poll(self, max_records: int, timeout_ms: int) -> list[InRecord]:
        batch = await self._source.poll(max_records, timeout_ms)
        self._meter.polled(len(batch))
        return batch

    async def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        await self._source.commit(offsets)
        self._meter.committed()


def _consumer(bootstrap: str, group: str | None, *topics: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=group,
                            enable_auto_commit=False, auto_offset_reset="earliest",
                            max_partition_fetch_bytes=MAX_RECORD_BYTES,
                            fetch_max_bytes=4 * MAX_RECORD_BYTES)


def split_messages(value: bytes) -> list[bytes]:
    """A bare split of an interchange into its messages: from each ``UNH+`` up to the
    next one, the last up to ``UNZ+`` (the whole value if there is no UNH). Nothing is
    validated and release characters are not honoured: the least a passthrough that
    forwards messages instead of records has to do (``bytes.find``, cheaper than a
    regex's match objects: 1.4 µs per one-message record).

    >>> split_messages(b"UNB+x'UNH+1+A'UNT+2+1'UNH+2+B'UNT+2+2'UNZ+2+x'")
    [b"UNH+1+A'UNT+2+1'", b"UNH+2+B'UNT+2+2'"]
    """
    find = value.find
    start = find(b"UNH+")
    if start < 0:
        return [value]
    out = []
    nxt = find(b"UNH+", start + 4)
    while nxt >= 0:
        out.append(value[start:nxt])
        start, nxt = nxt, find(b"UNH+", nxt + 4)
    unz = value.rfind(b"UNZ+", start)
    out.append(value[start : unz if unz >= 0 else len(value)])
    return out


async def passthrough(bootstrap: str, group: str, source: str, target: str, meter: Meter,
                      stop: asyncio.Event, batch_max: int, poll_timeout_ms: int,
                      split: bool = True) -> None:
    """Bare aiokafka: poll a batch, produce each record's messages (``split``) or the
    record unchanged, gather acks, commit."""
    consumer = _consumer(bootstrap, group, source)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_request_size=MAX_RECORD_BYTES, request_timeout_ms=30000)
    await producer.start()
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=poll_timeout_ms, max_records=batch_max)
            if not batches:
                continue
            meter.polled(sum(map(len, batches.values())))
            send = producer.send
            if split:
                futures = [await send(target, m, key=r.key)
                           for records in batches.values() for r in records
                           for m in split_messages(r.value)]
            else:
                futures = [await send(target, r.value, key=r.key)
                           for records in batches.values() for r in records]
            await asyncio.gather(*futures)
            await consumer.commit({tp: records[-1].offset + 1
                                   for tp, records in batches.items() if records})
            meter.committed()
    finally:
        await consumer.stop()
        await producer.stop()


async def router(config: Config, bootstrap: str, topics: list[str], meter: Meter,
                 stop: asyncio.Event, *, metrics: bool = True) -> None:
    """What ``serve`` runs: run_loop over KafkaSource → Pipeline → KafkaSink (``metrics``
    off: no parse timing in the families and a NullObserver)."""
    observer = PrometheusObserver() if metrics else NullObserver()
    pipeline = build_pipeline(config, RoutingTable(config.routes))
    pipeline.stats.enabled = metrics
    source = KafkaSource(config, bootstrap, topics)
    sink = KafkaSink(config, bootstrap)
    await sink.start(stop)
    await source.start(stop)
    try:
        await run_loop(TimedSource(source, meter), sink, pipeline, stop,
                       batch_max=config.batch_max, poll_timeout_ms=config.poll_timeout_ms,
                       observer=observer)
    finally:
        await source.stop()
        await sink.stop()


async def produce(bootstrap: str, topic: str, values: Sequence[bytes], key_prefix: str,
                  chunk: int = 1000) -> None:
    """All values as fast as possible (send a chunk, gather its acks)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_request_size=MAX_RECORD_BYTES)
    await producer.start()
    try:
        for start in range(0, len(values), chunk):
            futures = [await producer.send(topic, v, key=f"{key_prefix}{start + i}".encode())
                       for i, v in enumerate(values[start : start + chunk])]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def produce_paced(bootstrap: str, topic: str, values: Sequence[bytes], key_prefix: str,
                        rate: float) -> float:
    """Values at a steady ``rate`` per second (linger 0); returns the achieved rate."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0,
                                max_request_size=MAX_RECORD_BYTES)
    await producer.start()
    try:
        futures = []
        t0 = time.perf_counter()
        for i, v in enumerate(values):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            futures.append(await producer.send(topic, v, key=f"{key_prefix}{i}".encode()))
        elapsed = time.perf_counter() - t0
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(values) / elapsed if elapsed > 0 else float("inf")


async def read_topic(bootstrap: str, topic: str, partitions: int) -> list[Any]:
    """Every record of ``topic`` (no group). Reads on until a poll after the end offsets
    comes back empty: the embedded broker's end offsets can lag behind the last record."""
    consumer = _consumer(bootstrap, None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: list[Any] = []
        while True:
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                out.extend(records)
            if not batches and all([await consumer.position(tp)
                                    >= max(end[tp], consumer.highwater(tp) or 0)
                                    for tp in tps]):
                return out
    finally:
        await consumer.stop()


async def count_records(bootstrap: str, topics: Sequence[str], partitions: int) -> Counter[str]:
    """Records per topic (read, not end offsets; see :func:`read_topic`)."""
    return Counter({t: len(await read_topic(bootstrap, t, partitions)) for t in topics})


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    return sorted_values[max(0, math.ceil(p * len(sorted_values)) - 1)]


# ---- phases -----------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    rate: float | None = None
    cpu: float | None = None  # ms of this process's CPU per 1,000 messages
    p50: float | None = None
    p99: float | None = None
    notes: list[str] = field(default_factory=list)


def run_core(config: Config, values: Sequence[bytes]) -> tuple[float, float, Counter[str]]:
    """``Pipeline.process`` alone; messages/s, CPU ms per 1,000, outputs per topic."""
    pipeline = build_pipeline(config, RoutingTable(config.routes))
    now = int(time.time() * 1000)
    records = [InRecord(config.topics.inbound, 0, i, None, v, now) for i, v in enumerate(values)]
    outputs: list[OutRecord] = []
    t0, c0 = time.perf_counter(), time.process_time()
    for rec in records:
        outputs.extend(pipeline.process(rec))
    rate = len(records) / (time.perf_counter() - t0)
    cpu = 1e6 * (time.process_time() - c0) / len(records)
    return rate, cpu, Counter(o.topic for o in outputs)


async def throughput(kind: str, config: Config, bootstrap: str, group: str, n: int,
                     pt_topics: tuple[str, str], profiler: cProfile.Profile | None = None,
                     ) -> tuple[float, float]:
    """Consume the n pre-produced records; messages/s and CPU ms per 1,000."""
    meter, stop = Meter(), asyncio.Event()
    if kind in PASSTHROUGHS:
        source, target = pt_topics
        coro = passthrough(bootstrap, group, source, f"{target}.{kind}", meter, stop,
                           config.batch_max, config.poll_timeout_ms,
                           split=kind == "passthrough")
    else:
        cfg = msgspec.structs.replace(config, group_id=group)
        coro = router(cfg, bootstrap, [config.topics.inbound], meter, stop,
                      metrics=kind != "router-nometrics")
    if profiler is not None:
        profiler.enable()
    task = asyncio.create_task(coro)
    try:
        await meter.wait_done(n, task)
    finally:
        stop.set()
        await task
        if profiler is not None:
            profiler.disable()
    return meter.rate(), meter.cpu_per_1k()


async def latency(kind: str, config: Config, bootstrap: str, prefix: str,
                  values: Sequence[bytes], rate: float, per_record: int
                  ) -> tuple[list[float], float, str]:
    """Steady-rate load on a fresh topic; per-message latencies (ms), achieved rate, note."""
    lat_in, lat_out = f"{prefix}.{kind}.lat.in", f"{prefix}.{kind}.lat.out"
    parts = config.topics.partitions
    meter, stop = Meter(), asyncio.Event()
    if kind == "passthrough":
        coro = passthrough(bootstrap, f"{prefix}.{kind}.lat", lat_in, lat_out, meter, stop,
                           config.batch_max, config.poll_timeout_ms)
        out_topic = lat_out
    else:
        # the pipeline dispatches by topic: the latency topic is this router's inbound
        cfg = msgspec.structs.replace(config, group_id=f"{prefix}.{kind}.lat",
                                      topics=msgspec.structs.replace(config.topics,
                                                                     inbound=lat_in))
        coro = router(cfg, bootstrap, [lat_in], meter, stop)
        out_topic = next(iter(config.routes.values()))
    task = asyncio.create_task(coro)
    try:
        # warm-up: one record, so the group is joined and the pipeline is waiting
        await produce(bootstrap, lat_in, values[-1:], "warmup-")
        await meter.wait_done(1, task)
        achieved = await produce_paced(bootstrap, lat_in, values[:-1], "lat-", rate)
        await meter.wait_done(len(values), task)
    finally:
        stop.set()
        await task
    inputs = await read_topic(bootstrap, lat_in, parts)
    outputs = await read_topic(bootstrap, out_topic, parts)
    by_key = {r.key: r.timestamp for r in inputs}
    by_pos = {(r.partition, r.offset): r.timestamp for r in inputs}
    warm = {(r.partition, r.offset) for r in inputs
            if r.key.startswith(b"warmup-")}
    ts_types = Counter(r.timestamp_type for r in outputs)
    lat: list[float] = []
    if kind == "passthrough":
        for r in outputs:
            if not r.key.startswith(b"warmup-"):
                lat.append(r.timestamp - by_key[r.key])
    else:
        decode = codec_for(config.output_format)[1].decode
        for r in outputs:
            src = decode(r.value).source
            if src.topic == lat_in and (src.partition, src.offset) not in warm:
                lat.append(r.timestamp - by_pos[(src.partition, src.offset)])
    note = "" if set(ts_types) == {0} else f"output timestamp types {dict(ts_types)} (0=Create)"
    if len(lat) != (len(values) - 1) * per_record:
        note += (f" {len(lat)} latencies for {len(values) - 1} records of {per_record} "
                 "message(s)")
    return sorted(lat), achieved, note.strip()


def top_functions(profiler: cProfile.Profile, top: int, order: str = "tottime") -> str:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(top)
    text = out.getvalue()
    for prefix in sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
                          os.getcwd()}, key=len, reverse=True):
        text = text.replace(prefix + os.sep, "")
    lines = text.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join([*lines[:1], *lines[start:]])


async def bench(args: argparse.Namespace, bootstrap: str) -> None:
    prefix = f"bench.{os.getpid()}.{int(time.time())}"
    config = bench_config(prefix)
    pt_in, pt_out = f"{prefix}.passthrough.in", f"{prefix}.passthrough.out"
    extra = (pt_in, *(f"{pt_out}.{k}" for k in PASSTHROUGHS),
             *(f"{prefix}.{k}.lat.{d}" for k in ("passthrough", "router")
                              for d in ("in", "out")))
    await ensure_topics(config, bootstrap, extra=extra)

    t0 = time.perf_counter()
    values, origin = build_inputs(args.records, args.seed, args.per_record)
    n = len(values)
    print(f"inputs: {n:,} interchanges ({origin}); {sum(map(len, values)) / n:,.0f} B each; "
          f"built in {time.perf_counter() - t0:.1f} s", flush=True)

    core_rate, core_cpu, expected = 0.0, 0.0, Counter[str]()
    for _ in range(args.repeat):
        rate, cpu, expected = run_core(config, values)
        if rate > core_rate:
            core_rate, core_cpu = rate, cpu
        print(f"core only: {rate:,.0f} msg/s ({cpu:.0f} CPU ms/1k)", flush=True)
    routed = expected.get(next(iter(config.routes.values())), 0)
    print(f"expected outputs per pass: {dict(expected)}", flush=True)
    if routed != n * args.per_record:
        print(f"WARNING: only {routed} of {n * args.per_record} messages are routed", flush=True)

    t0 = time.perf_counter()
    await produce(bootstrap, pt_in, values, "pt-")
    await produce(bootstrap, config.topics.inbound, values, "in-")
    print(f"produced 2 x {n:,} input records in {time.perf_counter() - t0:.1f} s", flush=True)

    results = {"passthrough": Result("bare aiokafka passthrough, split (reference)"),
               "passthrough-unchanged": Result("bare aiokafka passthrough, records unchanged"),
               "router": Result("Stellwerk router (run_loop, KafkaSource → Pipeline → "
                                "KafkaSink)"),
               "router-nometrics": Result("Stellwerk router, metrics off")}
    for run in range(args.repeat):  # alternating, best of: the machine may be shared
        for kind, res in results.items():
            rate, cpu = await throughput(kind, config, bootstrap, f"{prefix}.{kind}.{run}", n,
                                         (pt_in, pt_out))
            if rate > (res.rate or 0.0):
                res.rate, res.cpu = rate, cpu
            print(f"{kind}: {rate:,.0f} msg/s ({cpu:.0f} CPU ms/1k)", flush=True)
    pt_outs = {kind: f"{pt_out}.{kind}" for kind in PASSTHROUGHS}
    observed = await count_records(bootstrap, [*pt_outs.values(), *all_output_topics(config)],
                                   config.topics.partitions)
    for kind, topic in pt_outs.items():
        per = args.per_record if kind == "passthrough" else 1
        if observed[topic] != n * per * args.repeat:
            results[kind].notes.append(
                f"{observed[topic]} outputs for {n} inputs x {per} x {args.repeat} runs")
    router_seen = Counter({t: c for t, c in observed.items()
                           if t not in pt_outs.values() and c})
    runs = 2 * args.repeat  # the router with and without metrics
    if router_seen != Counter({t: c * runs for t, c in expected.items()}):
        results["router"].notes.append(f"outputs {dict(router_seen)} ≠ expected x {runs}")

    rate = args.rate
    if rate is None:  # well below saturation (the load generator shares the CPU)
        rate = max(100.0, min(MAX_AUTO_RATE, 100 * (AUTO_SHARE * results["router"].rate // 100)))
    n_lat = max(2, round(rate * args.seconds)) + 1
    lat_values = [values[i % n] for i in range(n_lat)]
    achieved_rates: dict[str, float] = {}
    for kind, res in results.items():
        if kind in ("router-nometrics", "passthrough-unchanged"):
            continue
        lat, achieved, note = await latency(kind, config, bootstrap, prefix, lat_values, rate,
                                            args.per_record)
        res.p50, res.p99 = percentile(lat, 0.50), percentile(lat, 0.99)
        achieved_rates[kind] = achieved
        res.notes += [note] if note else []
        print(f"{kind}: latency p50 {res.p50:.0f} ms p99 {res.p99:.0f} ms (load {achieved:,.0f}"
              f" msg/s, {len(lat)} records, max {lat[-1]:.0f} ms)", flush=True)

    profile_text = ""
    if args.profile:
        profiler = cProfile.Profile()
        prof_rate, _ = await throughput("router", config, bootstrap,
                                        f"{prefix}.router.profile", n, (pt_in, pt_out),
                                        profiler=profiler)
        profile_text = (f"### cProfile of the router throughput run ({n:,} records, "
                        f"{prof_rate:,.0f} msg/s under the profiler), top {args.top} by "
                        f"tottime\n\n```\n{top_functions(profiler, args.top)}\n```\n\n"
                        f"Same run, top {args.top} by cumtime:\n\n"
                        f"```\n{top_functions(profiler, args.top, 'cumulative')}\n```\n")

    base = results["passthrough"].rate or 1.0
    unchanged = results["passthrough-unchanged"].rate or 1.0
    ratio = (results["router"].rate or 0.0) / base
    command = shlex.join(["uv", "run", "python", "benchmarks/pipeline_bench.py", *args.argv])
    auto = (f" (auto: {AUTO_SHARE:.0%} of the router throughput, at most {MAX_AUTO_RATE:,.0f})"
            if args.rate is None else "")
    print()
    print(f"- command: `{command}`")
    print(f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"- machine: {os.cpu_count()} CPUs, load average before run {args.load:.2f}; Python "
          f"{platform.python_version()}, {type(asyncio.get_running_loop()).__module__} loop")
    print(f"- embedded broker (Tansu, memory storage), {config.topics.partitions} partitions; "
          f"batch_max {config.batch_max}, acks=all, linger 5 ms")
    print(f"- throughput: {n:,} records of {args.per_record} message(s) each (messages/s = "
          f"records/s x {args.per_record}), pre-produced; first non-empty "
          f"poll to last commit; best of {args.repeat}, alternating")
    print(f"- latency: {n_lat - 1:,} records at {rate:,.0f} msg/s{auto}; output CreateTime − "
          f"input CreateTime; load achieved: " + ", ".join(
              f"{kind} {achieved_rates[kind]:,.0f} msg/s" for kind in achieved_rates))
    print()
    k = args.per_record  # the meters count records; each holds k messages
    print("| pipeline | messages/s | ratio vs passthrough (split) | ratio vs unchanged "
          "| p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for res in results.values():
        assert res.rate is not None
        p50 = "–" if res.p50 is None else f"{res.p50:.0f}"
        p99 = "–" if res.p99 is None else f"{res.p99:.0f}"
        print(f"| {res.name} | {res.rate * k:,.0f} | {res.rate / base:.2f} | "
              f"{res.rate / unchanged:.2f} | {p50} | {p99} |")
    print(f"| Stellwerk core only, no Kafka (Pipeline.process) | {core_rate * k:,.0f} | "
          f"{core_rate / base:.2f} | {core_rate / unchanged:.2f} | – | – |")
    print()
    pt_cpu, r_cpu = results["passthrough"].cpu or 1.0, results["router"].cpu or 0.0
    un_cpu = results["passthrough-unchanged"].cpu or 1.0
    print(f"CPU of this process per 1,000 messages (less sensitive to other load than "
          f"messages/s; the broker's CPU is not counted): passthrough split {pt_cpu / k:.1f} ms, "
          f"unchanged {un_cpu / k:.1f} ms, router {r_cpu / k:.1f} ms ({pt_cpu / r_cpu:.2f} of "
          f"the split passthrough's rate per CPU second), core only {core_cpu / k:.1f} ms.")
    print()
    verdict = "met" if ratio >= GOAL_RATIO else "NOT met"
    print(f"Goal router ≥ {GOAL_RATIO:.0%} of the split passthrough: **{verdict}** "
          f"({ratio:.1%}); of the unchanged one {(results['router'].rate or 0.0) / unchanged:.1%}.")
    off_cpu = results["router-nometrics"].cpu or 1.0
    print(f"Metrics cost (router CPU per message, on vs off): {r_cpu / off_cpu - 1:+.1%} "
          f"(goal < 3 %).")
    print()
    print(f"Router outputs over {args.repeat} throughput runs: {dict(router_seen)}.")
    for res in results.values():
        for note in res.notes:
            print(f"- {res.name}: {note}")
    if profile_text:
        print()
        print(profile_text)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--per-record", type=int, default=1, metavar="N",
                   help="messages per input record (interchange); default 1")
    p.add_argument("--records", type=int, default=20_000,
                   help="input interchanges of one message each (default 20000)")
    p.add_argument("--seed", type=int, default=301)
    p.add_argument("--rate", type=float, default=None,
                   help="latency phase: records per second (default: a quarter of the "
                        "measured router throughput, at most 2000, so the router is not "
                        "saturated)")
    p.add_argument("--seconds", type=float, default=3.0,
                   help="latency phase: duration of the steady load (default 3)")
    p.add_argument("--repeat", type=int, default=2,
                   help="throughput runs per pipeline, alternating; best is reported")
    p.add_argument("--profile", action="store_true",
                   help="add a cProfile'd router run and print the top functions")
    p.add_argument("--top", type=int, default=20, help="--profile: functions shown")
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    configure_logging("WARNING")
    broker = EmbeddedBroker()
    broker.start()
    try:
        run_async(lambda: bench(args, broker.bootstrap))
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
