"""The Prometheus observer: cumulative aggregates exposed by one custom collector.

Why not ``prometheus_client.Counter``/``Histogram`` objects: each ``inc``/``observe``
takes a lock and a label lookup, per call. Here a batch's :class:`Stats` is merged once
(histogram samples are sorted and bucketed with ``bisect`` per bucket bound, not per
sample) and the collector builds the metric families at scrape time. Scrapes are served
from the event loop (see :mod:`router.metrics.http`), so no lock is needed either.

>>> from prometheus_client import CollectorRegistry, generate_latest
>>> obs = PrometheusObserver(CollectorRegistry())
>>> s = Stats()
>>> s.count(("stellwerk_records_out_total", "s301", "uv.carrier", "routed"), 3)
>>> obs.on_batch(s)
>>> obs.registry.get_sample_value("stellwerk_records_out_total",
...                               {"family": "s301", "topic": "uv.carrier", "kind": "routed"})
3.0
"""

from __future__ import annotations

import bisect
import math
import platform
from collections.abc import Iterator
from importlib import metadata

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

import sgb301

from ..core.stats import Key, Stats
from .catalogue import SPECS, MetricSpec
from .observer import Probe

__all__ = ["PrometheusObserver", "build_info"]


def build_info(families: tuple[str, ...] = ()) -> dict[str, str]:
    """Labels of ``stellwerk_build_info``; ``codec`` says whether the §301 codec runs its
    compiled core or pure Python (a replica that fell back is slower, not wrong)."""
    try:
        version = metadata.version("stellwerk")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {"version": version, "python": platform.python_version(),
            "families": ",".join(families), "codec": "compiled" if sgb301.NATIVE else "pure"}


class _Histogram:
    """Cumulative bucket counts of one label set."""

    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)  # per bucket, not cumulative
        self.total = 0.0
        self.count = 0

    def add(self, values: list[float]) -> None:
        values.sort()
        lo = 0
        for i, bound in enumerate(self.bounds):
            hi = bisect.bisect_right(values, bound, lo)
            self.counts[i] += hi - lo
            lo = hi
        self.total += math.fsum(values)
        self.count += len(values)

    def buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, n in zip(self.bounds, self.counts, strict=True):
            running += n
            out.append((repr(float(bound)), float(running)))
        out.append(("+Inf", float(self.count)))
        return out


class PrometheusObserver(Collector):
    """All Stellwerk metrics of a process, against an injectable registry."""

    def __init__(self, registry: CollectorRegistry | None = None, *,
                 info: dict[str, str] | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._counts: dict[Key, float] = {}
        self._hists: dict[Key, _Histogram] = {}
        self._probes: dict[str, list[Probe]] = {}
        self._info = info or build_info()
        self.registry.register(self)

    # ---- observer hooks ----------------------------------------------------------------
    def on_batch(self, stats: Stats) -> None:
        """Merge one batch's aggregates."""
        counts = self._counts
        for key, n in stats.counts.items():
            counts[key] = counts.get(key, 0.0) + n
        for key, values in stats.samples.items():
            hist = self._hists.get(key)
            if hist is None:
                hist = self._hists[key] = _Histogram(SPECS[key[0]].buckets)
            hist.add(values)

    def on_retry(self, operation: str, error: str) -> None:
        """Count a retry."""
        key = ("stellwerk_kafka_retries_total", operation, error)
        self._counts[key] = self._counts.get(key, 0.0) + 1

    def watch(self, name: str, probe: Probe) -> None:
        """Read ``name`` from ``probe`` at every scrape."""
        if name not in SPECS:
            raise KeyError(f"{name} is not in the metric catalogue")
        self._probes.setdefault(name, []).append(probe)

    # ---- collector ---------------------------------------------------------------------
    def describe(self) -> list[Metric]:
        """Nothing up front: the families depend on what was observed."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Metric families of everything observed so far, plus the probes' readings."""
        by_name: dict[str, list[tuple[tuple[str, ...], float | _Histogram]]] = {}
        for key, n in self._counts.items():
            by_name.setdefault(key[0], []).append((key[1:], n))
        for key, h in self._hists.items():
            by_name.setdefault(key[0], []).append((key[1:], h))
        for name, probes in self._probes.items():
            rows = by_name.setdefault(name, [])
            for probe in probes:
                rows.extend(probe())
        for name, rows in by_name.items():
            yield _family(SPECS[name], rows)
        info = InfoMetricFamily("stellwerk_build", SPECS["stellwerk_build"].help)
        info.add_metric([], self._info)
        yield info


def _family(spec: MetricSpec, rows: list[tuple[tuple[str, ...], float | _Histogram]]
            ) -> Metric:
    labels = list(spec.labels)
    if spec.kind == "histogram":
        hist = HistogramMetricFamily(spec.name, spec.help, labels=labels)
        for values, h in rows:
            assert isinstance(h, _Histogram)
            hist.add_metric(list(values), h.buckets(), h.total)
        return hist
    family: CounterMetricFamily | GaugeMetricFamily
    if spec.kind == "counter":
        family = CounterMetricFamily(spec.name, spec.help, labels=labels)
    else:
        family = GaugeMetricFamily(spec.name, spec.help, labels=labels)
    for values, n in rows:
        assert not isinstance(n, _Histogram)
        family.add_metric(list(values), n)
    return family
