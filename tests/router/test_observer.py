"""Metrics: one update per batch, bounded labels only (kind, type, verdict, code)."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, generate_latest

from router.config import load_config
from router.core.records import InRecord
from router.families import build_pipeline
from router.loop import run_loop
from router.memory import MemorySink, MemorySource
from router.metrics import PrometheusObserver
from sgb301.examples import load


def test_batch_counts_reach_prometheus_without_personal_labels() -> None:
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry)
    records = [InRecord("s301.inbound", 0, i, None, data, 0)
               for i, data in enumerate([*load().values(), b"garbage"])]
    source, sink = MemorySource(records), MemorySink()

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_loop(source, sink, build_pipeline(load_config(None, env={})),
                                            stop, batch_max=4, observer=observer))
        await source.drained.wait()
        stop.set()
        await task

    asyncio.run(go())
    value = registry.get_sample_value
    assert value("stellwerk_records_total") == 9
    assert value("stellwerk_outputs_total", {"kind": "test"}) == 6
    assert value("stellwerk_outputs_total", {"kind": "rejected"}) == 2
    assert value("stellwerk_outputs_total", {"kind": "dlq"}) == 1
    assert value("stellwerk_messages_total", {"type": "RECH", "verdict": "rejected"}) == 2
    assert value("stellwerk_validation_errors_total", {"code": "1SW18"}) == 2
    assert value("stellwerk_batch_seconds_count") == 3  # one observation per batch
    text = generate_latest(registry).decode()
    for private in ("260510223", "120591481", "1234567", "Mustermann"):
        assert private not in text
