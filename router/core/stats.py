"""Aggregates of the pure core and the loop between two publications to an observer.

The hot path only adds to plain dicts and lists here (no locks, no metric objects, no
label lookups); the loop hands one :class:`Stats` per batch to the observer, which turns
it into metric updates. Keys are a metric name from :mod:`router.metrics.catalogue`
followed by its label values, all from bounded sets (family, type, verdict, code, topic).

>>> s = Stats()
>>> s.count(("stellwerk_messages_total", "s301", "AUFN", "accepted"))
>>> s.sample(("stellwerk_parse_validate_seconds", "s301", "AUFN"), 0.00002)
>>> s.counts[("stellwerk_messages_total", "s301", "AUFN", "accepted")]
1
>>> batch = s.drain()
>>> len(s.counts), len(batch.samples)
(0, 1)
"""

from __future__ import annotations

__all__ = ["Key", "Stats"]

Key = tuple[str, ...]


class Stats:
    """Counters and raw samples by metric key; ``enabled`` False makes producers skip
    their timing work altogether (the "metrics off" of the benchmarks)."""

    __slots__ = ("counts", "enabled", "samples")

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.counts: dict[Key, float] = {}
        self.samples: dict[Key, list[float]] = {}

    def count(self, key: Key, n: float = 1) -> None:
        """Add ``n`` to the counter ``key``."""
        self.counts[key] = self.counts.get(key, 0) + n

    def sample(self, key: Key, value: float) -> None:
        """One observation of the histogram ``key``."""
        bucket = self.samples.get(key)
        if bucket is None:
            self.samples[key] = [value]
        else:
            bucket.append(value)

    def extend(self, key: Key, values: list[float]) -> None:
        """Many observations of the histogram ``key``."""
        if not values:
            return
        bucket = self.samples.get(key)
        if bucket is None:
            self.samples[key] = list(values)
        else:
            bucket.extend(values)

    def drain(self) -> Stats:
        """What was gathered so far, as a new object; this one starts empty again."""
        out = Stats(enabled=self.enabled)
        out.counts, self.counts = self.counts, {}
        out.samples, self.samples = self.samples, {}
        return out

    def merge(self, other: Stats) -> None:
        """Add ``other``'s counts and samples to these."""
        for key, n in other.counts.items():
            self.count(key, n)
        for key, values in other.samples.items():
            self.extend(key, values)
