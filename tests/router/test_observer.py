"""Metrics: one update per batch, bounded labels only (kind, type, verdict, code)."""

from __future__ import annotations

import asyncio

import msgspec
from prometheus_client import CollectorRegistry, generate_latest

from router.config import load_config
from router.core.records import InRecord
from router.core.stats import Stats
from router.families import build_pipeline
from router.loop import account_batch, count_outputs, run_loop
from router.memory import MemorySink, MemorySource
from router.metrics import PrometheusObserver
from sgb301 import UV_TEST_IK, ik_check_digit
from sgb301.examples import load


def test_batch_counts_reach_prometheus_without_personal_labels() -> None:
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry)
    records = [InRecord("s301.inbound", 0, i, None, data, 0)
               for i, data in enumerate([*load().values(), b"garbage"])]
    source, sink = MemorySource(records), MemorySink()

    async def go() -> None:
        stop = asyncio.Event()
        config = load_config(None, env={"STELLWERK_METRICS_SAMPLE": "1"})
        task = asyncio.create_task(run_loop(source, sink, build_pipeline(config), stop,
                                            batch_max=4, observer=observer))
        await source.drained.wait()
        stop.set()
        await task

    asyncio.run(go())
    value = registry.get_sample_value
    s301 = {"family": "s301"}
    assert value("stellwerk_records_in_total", {**s301, "topic": "s301.inbound"}) == 9
    out = {**s301, "topic": "s301.test", "kind": "test"}
    assert value("stellwerk_records_out_total", out) == 6
    assert value("stellwerk_records_out_total",
                 {**out, "topic": "s301.rejected", "kind": "rejected"}) == 2
    assert value("stellwerk_records_out_total",
                 {**out, "topic": "stellwerk.dlq", "kind": "dlq"}) == 1
    assert value("stellwerk_messages_total",
                 {**s301, "type": "RECH", "verdict": "rejected"}) == 2
    assert value("stellwerk_validation_errors_total", {**s301, "code": "1SW18"}) == 2
    assert value("stellwerk_batch_seconds_count", s301) == 3  # one observation per batch
    assert value("stellwerk_batch_records_sum", s301) == 9
    # parsing core: 8 messages in 8 interchanges (the garbage record has no UNB)
    decoded = sum(value("stellwerk_parse_decode_seconds_count", {**s301, "type": t}) or 0
                  for t in ("AUFN", "ENTL", "RECH", "KOUB"))
    assert decoded == 8
    assert value("stellwerk_parse_validate_seconds_count", {**s301, "type": "RECH"}) == 2
    assert value("stellwerk_parse_path_total", {**s301, "path": "fast"}) + value(
        "stellwerk_parse_path_total", {**s301, "path": "exact"}) == 8
    # the two published RECH examples have wrong UNT counts: the exact checker saw them
    assert value("stellwerk_parse_path_total", {**s301, "path": "exact"}) >= 2
    assert value("stellwerk_parse_bytes_total", s301) == sum(len(r.value or b"")
                                                             for r in records)
    assert value("stellwerk_end_to_end_seconds_count", s301) is None  # timestamps 0: unknown
    text = generate_latest(registry).decode()
    for private in ("260510223", "120591481", "1234567", "Mustermann"):
        assert private not in text


def test_parse_durations_are_sampled_counts_are_exact() -> None:
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry)
    seeds = list(load().values())
    records = [InRecord("s301.inbound", 0, i, None, seeds[i % len(seeds)], 0)
               for i in range(17)]
    source, sink = MemorySource(records), MemorySink()
    pipeline = build_pipeline(load_config(None, env={"STELLWERK_METRICS_SAMPLE": "3"}))

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_loop(source, sink, pipeline, stop, batch_max=5,
                                            observer=observer))
        await source.drained.wait()
        stop.set()
        await task

    asyncio.run(go())
    value = registry.get_sample_value
    timed = sum(value("stellwerk_parse_decode_seconds_count", {"family": "s301", "type": t})
                or 0 for t in ("AUFN", "ENTL", "RECH", "KOUB"))
    # batches of five: each batch's first record, then one in three after it
    # (records 0 and 3, 5 and 8, 10 and 13, 15)
    assert timed == 7
    paths = sum(value("stellwerk_parse_path_total", {"family": "s301", "path": p}) or 0
                for p in ("fast", "exact"))
    assert paths == 17
    assert value("stellwerk_parse_bytes_total", {"family": "s301"}) == sum(
        len(r.value or b"") for r in records)


def test_ready_made_shapes_are_the_outputs_own_fields() -> None:
    """The §301 family hands the loop each output's (topic, kind, type, verdict) ready
    made; counting by it must give exactly what gathering the fields gives."""
    pipeline = build_pipeline(load_config(None, env={}))
    seeds = list(load().values())
    carrier = "12039000" + str(ik_check_digit("12039000"))  # no route configured
    inputs = [*seeds, b"garbage", b"",
              # a file-level reject (UNB only) and production messages without a route
              seeds[0].split(b"UNH+", 1)[0] + b"UNZ+0+00001'",
              seeds[0].replace(b"++TUVK0001'", b"++EUVK0001'").replace(
                  b"+" + UV_TEST_IK.encode(), b"+" + carrier.encode())]
    outputs = [o for i, data in enumerate(inputs)
               for o in pipeline.process(InRecord("s301.inbound", 0, i, None, data, 0))]
    kinds = {o.kind for o in outputs}
    assert {"rejected", "reply", "test", "unroutable", "dlq"} <= kinds, kinds
    shaped = [o for o in outputs if o.shape is not None]
    assert len(shaped) == sum(1 for o in outputs if o.kind != "dlq")
    for o in shaped:
        assert o.shape == (o.topic, o.kind, o.mtype, o.verdict)
    ready, gathered = Stats(), Stats()
    count_outputs(ready, "s301", outputs)
    count_outputs(gathered, "s301", [msgspec.structs.replace(o, shape=None) for o in outputs])
    assert ready.counts == gathered.counts
    assert sum(n for k, n in ready.counts.items()
               if k[0] == "stellwerk_records_out_total") == len(outputs)


def test_records_in_are_counted_per_topic_with_or_without_the_partitions() -> None:
    """The loop hands over its commit offsets' partitions: one topic among them counts
    the batch in one step; several topics still count each record under its own."""
    pipeline = build_pipeline(load_config(None, env={}))
    batch = [InRecord(topic, partition, i, None, b"x", 0)
             for i, (topic, partition) in enumerate(
                 [("s301.inbound", 0), ("s301.inbound", 1), ("stellwerk.replay", 0),
                  ("s301.inbound", 0)])]

    def records_in(recs: list[InRecord], partitions: bool) -> dict[str, float]:
        stats = Stats()
        account_batch(stats, pipeline, recs, [], 0.0, (0.0, 0.0, 0.0, 0.0),
                      {(r.topic, r.partition) for r in recs} if partitions else ())
        return {k[2]: n for k, n in stats.counts.items()
                if k[0] == "stellwerk_records_in_total"}

    for partitions in (True, False):
        assert records_in(batch, partitions) == {"s301.inbound": 3, "stellwerk.replay": 1}
        one = [r for r in batch if r.topic == "s301.inbound"]
        assert records_in(one, partitions) == {"s301.inbound": 3}
