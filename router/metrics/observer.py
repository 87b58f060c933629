"""The observer seam: what the loop, the core and the Kafka shell report, and to whom.

Three ways in, by cost:

* :meth:`Observer.on_batch` — once per batch, with the :class:`~router.core.stats.Stats`
  the core and the loop aggregated (counts and raw samples, no metric calls per message);
* :meth:`Observer.on_retry` and friends — rare events;
* :meth:`Observer.watch` — a probe read only when metrics are scraped (lag, table sizes,
  pool queue): zero cost on the hot path, and a revoked partition simply stops appearing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from ..core.stats import Stats

__all__ = ["NullObserver", "Observer", "Probe"]

#: A probe yields (label values, value) pairs of one metric at scrape time.
Probe = Callable[[], Iterable[tuple[tuple[str, ...], float]]]


class Observer(Protocol):
    """Hooks of the loop and the Kafka shell (all cheap)."""

    def on_batch(self, stats: Stats) -> None:
        """A batch was produced, acknowledged and committed; its aggregates."""

    def on_retry(self, operation: str, error: str) -> None:
        """A Kafka operation failed transiently and is retried."""

    def watch(self, name: str, probe: Probe) -> None:
        """Read metric ``name`` (a gauge or counter of the catalogue) from ``probe`` at
        scrape time."""


class NullObserver:
    """Does nothing (tests, benchmarks with metrics off)."""

    def on_batch(self, stats: Stats) -> None:
        """Ignore."""

    def on_retry(self, operation: str, error: str) -> None:
        """Ignore."""

    def watch(self, name: str, probe: Probe) -> None:
        """Ignore."""
