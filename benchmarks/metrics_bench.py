"""What the metrics cost: the pure pipeline with metrics on vs off, in one run.

*off*: ``Pipeline.stats.enabled = False`` (the families skip their timing) and a
``NullObserver``. *on*: what a router does per batch of ``--batch`` records — the
families' parse metrics, :func:`router.loop.account_batch`, ``PrometheusObserver.on_batch``.
A scrape (``generate_latest`` of everything observed) is timed on its own and spread
over the records a router handles between two scrapes (``--scrape-interval`` seconds at
the measured rate). Both process the
same records; runs alternate (``--repeat``, best of) on one pinned core, and the figure
compared is CPU time per message (``time.process_time``), the least noisy one on a shared
machine. Shapes: one message per record (production traffic) and ``--per-interchange``
messages per record.

    uv run python benchmarks/metrics_bench.py
    uv run python benchmarks/metrics_bench.py --messages 20000 --repeat 7
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Sequence

from prometheus_client import generate_latest

from router.core.pipeline import Pipeline
from router.core.records import InRecord, OutRecord
from router.core.tables import RoutingTable
from router.families import build_pipeline
from router.loop import account_batch
from router.metrics import NullObserver, PrometheusObserver

sys.path.insert(0, os.path.dirname(__file__))
from corpus import build_corpus
from pipeline_bench import _to_production, bench_config

GOAL = 0.03  # overhead of metrics on (issue 9)


def run(values: Sequence[bytes], *, metrics: bool, batch: int,
        pipeline: Pipeline | None = None, observer: PrometheusObserver | None = None
        ) -> tuple[float, int]:
    """CPU seconds for all records, and the number of messages (outputs of kind routed,
    rejected, test, unroutable). Pass a warmed ``pipeline`` (its fast-path patterns are
    compiled on first use) to time the steady state."""
    config = bench_config("metrics")
    if pipeline is None:
        pipeline = build_pipeline(config, RoutingTable(config.routes))
    pipeline.stats.enabled = metrics
    obs: PrometheusObserver | NullObserver = NullObserver()
    if metrics:
        obs = observer if observer is not None else PrometheusObserver()
    now = int(time.time() * 1000)
    records = [InRecord(config.topics.inbound, 0, i, None, v, now) for i, v in enumerate(values)]
    messages = 0
    c0 = time.process_time()
    for start in range(0, len(records), batch):
        chunk = records[start:start + batch]
        outputs: list[OutRecord] = []
        for rec in chunk:
            outputs.extend(pipeline.process(rec))
        stats = pipeline.drain_stats()
        # the loop's commit offsets, built with metrics on or off
        offsets = {(r.topic, r.partition): r.offset + 1 for r in chunk}
        if metrics:
            t = time.perf_counter()
            account_batch(stats, pipeline, chunk, outputs, time.time(), (t, t, t, 0.0),
                          offsets)
        obs.on_batch(stats)
        messages += sum(1 for o in outputs if o.verdict)
    return time.process_time() - c0, messages


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("--per-interchange", type=int, default=100)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--scrape-interval", type=float, default=15.0,
                   help="seconds between two scrapes (Prometheus default 15)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--seed", type=int, default=301)
    args = p.parse_args(argv)
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1]})
    weights = {"AUFN": 0.30, "ENTL": 0.25, "RECH": 0.25, "KOUB": 0.0}
    shapes = {
        "1 message per record": [_to_production(ic) for ic in
                                 build_corpus(args.messages, 1, args.seed, weights=weights)],
        f"{args.per_interchange} messages per record": [
            _to_production(ic) for ic in build_corpus(args.messages, args.per_interchange,
                                                      args.seed, weights=weights)],
    }
    print(f"- command: `uv run python benchmarks/metrics_bench.py {' '.join(argv or sys.argv[1:])}`"
          .rstrip())
    print(f"- pinned to CPU {cpus[-1]}; best of {args.repeat} alternating runs; batches of "
          f"{args.batch}; a scrape every {args.scrape_interval:.0f} s at the measured rate; "
          f"load average {os.getloadavg()[0]:.2f}")
    print()
    print("| shape | messages | off: CPU µs/msg | on: CPU µs/msg (scrapes included) | "
          "one scrape | overhead |")
    print("|---|---:|---:|---:|---:|---:|")
    worst = -1.0
    for name, values in shapes.items():
        best = {True: float("inf"), False: float("inf")}
        messages = 0
        config = bench_config("metrics")
        pipeline = build_pipeline(config, RoutingTable(config.routes))
        observer = PrometheusObserver()
        run(values, metrics=True, batch=args.batch, pipeline=pipeline,
            observer=observer)  # warm-up: patterns compiled, caches filled
        for _ in range(args.repeat):
            for metrics in (False, True):
                gc.collect()
                cpu, messages = run(values, metrics=metrics, batch=args.batch,
                                    pipeline=pipeline, observer=observer)
                best[metrics] = min(best[metrics], cpu)
        c0 = time.process_time()
        for _ in range(10):
            generate_latest(observer.registry)
        scrape = (time.process_time() - c0) / 10
        # a scrape is spread over the messages of one interval at the measured rate
        per_msg_scrape = scrape / (args.scrape_interval * messages / best[True])
        on = best[True] / messages + per_msg_scrape
        overhead = on / (best[False] / messages) - 1
        worst = max(worst, overhead)
        print(f"| {name} | {messages:,} | {1e6 * best[False] / messages:.2f} | "
              f"{1e6 * on:.2f} | {1e3 * scrape:.1f} ms | {overhead:+.1%} |")
    print()
    print(f"Goal: metrics cost < {GOAL:.0%}: **{'met' if worst < GOAL else 'NOT met'}** "
          f"(worst {worst:+.1%}).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
