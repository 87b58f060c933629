"""``stellwerk lag-exporter``: consumer-group lag from the broker, for Prometheus.

Runs beside the routers (one per cluster is enough). It reads the committed and end
offsets of the routers' consumer groups every ``--interval`` seconds and serves them on
``/metrics`` as ``stellwerk_group_lag``, ``stellwerk_group_committed_offset`` and
``stellwerk_group_end_offset``: the alert "stalled" (input waits, nothing committed)
keeps working when every router is frozen or gone, which the routers' own metrics
cannot do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from ..app import install_signals, run_async
from ..config import Config
from ..kafka import KafkaError
from ..kafka.lag import GroupOffsets, PartitionOffsets, router_groups
from ..logs import configure_logging
from ..metrics import MetricsServer, PrometheusObserver, Readiness, build_info
from .tools import bootstrap_of

__all__ = ["lag_exporter_main"]

log = logging.getLogger("stellwerk.lag")

Rows = list[tuple[tuple[str, ...], float]]


class _Snapshot:
    """The last reading, served at scrape time."""

    def __init__(self) -> None:
        self.rows: list[PartitionOffsets] = []
        self.ok = False

    def lag(self) -> Rows:
        return [((r.group, r.topic, str(r.partition)), r.lag) for r in self.rows]

    def committed(self) -> Rows:
        return [((r.group, r.topic, str(r.partition)), r.committed) for r in self.rows
                if r.committed >= 0]

    def end(self) -> Rows:
        return [((r.group, r.topic, str(r.partition)), r.end) for r in self.rows]


def lag_exporter_main(args: argparse.Namespace, config: Config) -> int:
    """Serve the groups' offsets until SIGTERM/SIGINT."""
    configure_logging(config.log_level, config.log_format)
    port = args.metrics_port or config.metrics_port
    if not port:
        log.error("pass --metrics-port N (or set metrics_port)")
        return 2
    return run_async(lambda: export(config, bootstrap_of(args, config), port, args.interval))


async def export(config: Config, bootstrap: str, port: int, interval: float,
                 stop: asyncio.Event | None = None) -> int:
    """Read offsets every ``interval`` seconds and serve them on ``port``."""
    stop = stop or asyncio.Event()
    install_signals(stop)
    snap = _Snapshot()
    observer = PrometheusObserver(info=build_info(("lag-exporter",)))
    observer.watch("stellwerk_group_lag", snap.lag)
    observer.watch("stellwerk_group_committed_offset", snap.committed)
    observer.watch("stellwerk_group_end_offset", snap.end)
    observer.watch("stellwerk_group_probe_up", lambda: [((), float(snap.ok))])
    readiness = Readiness()
    readiness.add("broker reachable", lambda: snap.ok)
    server = MetricsServer(observer.registry, readiness, port, config.metrics_host)
    await server.start()
    groups = router_groups(config)
    probe = GroupOffsets(config, bootstrap, groups)
    try:
        with contextlib.suppress(KafkaError):
            await probe.start(stop)
        log.info("lag of %s on %s, every %.0fs", ", ".join(groups), bootstrap, interval)
        while not stop.is_set():
            try:
                snap.rows = await asyncio.wait_for(probe.read(), max(interval, 5.0))
                snap.ok = True
            except (KafkaError, TimeoutError, OSError) as exc:
                if snap.ok:
                    log.warning("offsets unreadable (%s); keeping the last reading",
                                type(exc).__name__)
                snap.ok = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    finally:
        await probe.stop()
        await server.stop()
    return 0
