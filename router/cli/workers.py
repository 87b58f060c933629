"""``stellwerk run --workers N``: N router processes in one consumer group on one host.

One Python process uses one core for the pure core; more cores need more processes. The
parent starts N ``stellwerk run`` children with the same configuration (and, without a
configured broker, one embedded broker they share), each with its own metrics port
(``metrics_port + i``) and Kafka client id (``<client_id>-w<i>``), and supervises them:

* SIGTERM/SIGINT is passed on to every child; each stops in bounded time (see
  :data:`router.app.STOP_BOUND`); stragglers are killed after that bound;
* a child that exits on its own stops the others: the parent exits with its code and
  the orchestrator (systemd, Kubernetes) restarts the whole set — no half-running host;
* children get the parent-death signal SIGTERM, so a SIGKILLed parent leaves no orphans.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

from ..app import STOP_BOUND, bootstrap_or_embedded
from ..children import die_with_parent
from ..config import Config
from ..logs import configure_logging

__all__ = ["run_workers", "worker_command"]

log = logging.getLogger("stellwerk.workers")


def worker_command(i: int, bootstrap: str, config_path: str | None, metrics_port: int,
                   log_format: str) -> list[str]:
    """The command line of worker ``i``."""
    cmd = [sys.executable, "-m", "router.cli", "run", "--bootstrap", bootstrap,
           "--log-format", log_format]
    if config_path:
        cmd += ["--config", config_path]
    if metrics_port:
        cmd += ["--metrics-port", str(metrics_port + i)]
    return cmd


def run_workers(config: Config, bootstrap: str | None, n: int, config_path: str | None
                ) -> int:
    """Run ``n`` workers until a signal or until one of them exits; the exit code."""
    configure_logging(config.log_level, config.log_format)
    with bootstrap_or_embedded(config, bootstrap) as target:
        return _run(config, target, n, config_path)


def _run(config: Config, target: str, n: int, config_path: str | None) -> int:
    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(n):
            env = {**os.environ, "STELLWERK_KAFKA_CLIENT_ID": f"{config.kafka.client_id}-w{i}"}
            procs.append(subprocess.Popen(
                worker_command(i, target, config_path, config.metrics_port, config.log_format),
                env=env, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent(signal.SIGTERM)))  # noqa: PLW1509
        log.info("started %d workers (pids %s) on %s%s", n,
                 ", ".join(str(p.pid) for p in procs), target,
                 f", metrics on :{config.metrics_port}..{config.metrics_port + n - 1}"
                 if config.metrics_port else "")
        code = _supervise(procs, stop)
    finally:
        _stop_all(procs)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def _supervise(procs: Sequence[subprocess.Popen[bytes]], stop: threading.Event) -> int:
    """Wait for a signal (exit 0 after a clean stop) or a worker that exits by itself."""
    while not stop.wait(0.2):
        for i, p in enumerate(procs):
            code = p.poll()
            if code is not None:
                log.error("worker %d (pid %d) exited with %d; stopping the others", i, p.pid,
                          code)
                return code if code > 0 else 1
    return 0


def _stop_all(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every live worker; SIGKILL whoever is still there after the bound."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_BOUND + 1.0
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("worker pid %d did not stop within %.0fs; killing it", p.pid,
                      STOP_BOUND + 1.0)
            p.kill()
            p.wait()
