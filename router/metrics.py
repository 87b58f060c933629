"""Observers: the pipeline loop reports to them; Prometheus is one implementation.

Metric updates happen once per batch with aggregated counts, never per message. Labels
are bounded sets only: output kind, message type, verdict, error code, topic.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PCounter

__all__ = ["BatchStats", "NullObserver", "Observer", "PrometheusObserver"]


class BatchStats:
    """Counts of one batch, filled by the loop and handed to the observer once."""

    __slots__ = ("codes", "outputs", "records", "seconds", "types")

    def __init__(self) -> None:
        self.records = 0
        self.outputs: Counter[str] = Counter()
        self.types: Counter[tuple[str, str]] = Counter()
        self.codes: Counter[str] = Counter()
        self.seconds = 0.0


class Observer(Protocol):
    """Hooks of the loop (all cheap; called per batch or per rare event)."""

    def on_batch(self, stats: BatchStats) -> None:
        """A batch was produced, acknowledged and committed."""

    def on_retry(self, what: str) -> None:
        """A Kafka operation failed and is retried (``what``: connect, send, commit)."""

    def on_routes(self, size: int) -> None:
        """The routing table changed; ``size`` routes now."""


class NullObserver:
    """Does nothing."""

    def on_batch(self, stats: BatchStats) -> None:
        """Ignore."""

    def on_retry(self, what: str) -> None:
        """Ignore."""

    def on_routes(self, size: int) -> None:
        """Ignore."""


class PrometheusObserver:
    """All metric objects in one place, against an injectable registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        self.records = PCounter("stellwerk_records_total", "Input records processed", registry=r)
        self.outputs = PCounter("stellwerk_outputs_total", "Output records by terminal kind",
                                ["kind"], registry=r)
        self.messages = PCounter("stellwerk_messages_total", "Messages by type and verdict",
                                 ["type", "verdict"], registry=r)
        self.errors = PCounter("stellwerk_validation_errors_total", "Findings by error code",
                               ["code"], registry=r)
        self.batch_seconds = Histogram(
            "stellwerk_batch_seconds", "Time to process, produce and commit one batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r)
        self.retries = PCounter("stellwerk_kafka_retries_total", "Retried Kafka operations",
                                ["operation"], registry=r)
        self.routes = Gauge("stellwerk_routes", "Routes in the routing table", registry=r)

    def on_batch(self, stats: BatchStats) -> None:
        """Apply one batch's aggregated counts."""
        self.records.inc(stats.records)
        for kind, n in stats.outputs.items():
            self.outputs.labels(kind).inc(n)
        for (mtype, verdict), n in stats.types.items():
            self.messages.labels(mtype or "-", verdict).inc(n)
        for code, n in stats.codes.items():
            self.errors.labels(code).inc(n)
        self.batch_seconds.observe(stats.seconds)

    def on_retry(self, what: str) -> None:
        """Count a retry."""
        self.retries.labels(what).inc()

    def on_routes(self, size: int) -> None:
        """Set the table size."""
        self.routes.set(size)
