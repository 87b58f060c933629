"""``router.metrics``: observers of the loop (Prometheus is one), the metric catalogue,
and the HTTP endpoints ``/metrics``, ``/healthz``, ``/readyz``."""

from ..core.stats import Stats
from .catalogue import SPECS, MetricSpec, exported_names
from .http import MetricsServer, Readiness
from .observer import NullObserver, Observer, Probe
from .prometheus import PrometheusObserver, build_info

__all__ = [
    "SPECS",
    "MetricSpec",
    "MetricsServer",
    "NullObserver",
    "Observer",
    "Probe",
    "PrometheusObserver",
    "Readiness",
    "Stats",
    "build_info",
    "exported_names",
]
