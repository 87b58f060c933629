"""Operator tools around the broker: broker, send, tail, replay, ingest.

Each ``*_main`` takes the parsed arguments and the loaded config and returns the exit
code (0 ok, 1 partial failure, 2 usage error or broker unreachable).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .broker import EmbeddedBroker
from .config import Config

__all__ = ["bootstrap_of", "broker_main"]


def bootstrap_of(args: argparse.Namespace, config: Config) -> str:
    """``--bootstrap`` or the configured servers; exit 2 if neither is given."""
    target = getattr(args, "bootstrap", None) or config.kafka.bootstrap
    if not target:
        sys.stderr.write("stellwerk: no broker: pass --bootstrap HOST:PORT or set "
                         "STELLWERK_KAFKA_BOOTSTRAP\n")
        raise SystemExit(2)
    return str(target)


def broker_main(port: int) -> int:
    """Run the embedded broker until SIGTERM/SIGINT; first stdout line is the bootstrap."""
    broker = EmbeddedBroker(port)
    broker.start()
    sys.stdout.write(f"bootstrap={broker.bootstrap}\n")
    sys.stdout.flush()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    finally:
        broker.stop()
    return 0
