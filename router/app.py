"""``stellwerk run``: wire config, Kafka, routing feed, metrics and the loop together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from aiokafka.errors import KafkaError
from prometheus_client import start_http_server

from .broker import EmbeddedBroker
from .config import Config
from .kafka_io import KafkaSink, KafkaSource, ensure_topics, follow_routes
from .observer import PrometheusObserver
from .pipeline import Pipeline
from .routing import RoutingTable
from .runner import StoppedError, run_loop

__all__ = ["configure_logging", "run_async", "serve"]

log = logging.getLogger("stellwerk")
T = TypeVar("T")

ROUTES_LOAD_TIMEOUT = 10.0


def configure_logging(level: str = "INFO") -> None:
    """Plain lines on stderr; never payload content (see README, Health data)."""
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLevelName(level)))


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main`` on uvloop where available."""
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up, absent on some platforms

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


def _install_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


async def serve(config: Config, bootstrap: str, stop: asyncio.Event | None = None) -> int:
    """Run the router until SIGTERM/SIGINT (or ``stop``); returns the exit code."""
    stop = stop or asyncio.Event()
    _install_signals(stop)
    observer = PrometheusObserver()
    if config.metrics_port:
        start_http_server(config.metrics_port, registry=observer.registry)
        log.info("metrics on :%d/metrics", config.metrics_port)
    try:
        await ensure_topics(config, bootstrap, stop=stop)
    except KafkaError:
        if stop.is_set():
            log.info("stopped before the broker could be reached; nothing consumed")
            return 0
        raise
    table = RoutingTable(config.routes)
    loaded = asyncio.Event()
    feed = asyncio.create_task(
        follow_routes(config, bootstrap, table, loaded, stop, observer.on_routes))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_first(loaded, stop), ROUTES_LOAD_TIMEOUT)
    if not loaded.is_set() and not stop.is_set():
        log.warning("routing table not loaded within %.0fs; starting with the configured "
                    "routes", ROUTES_LOAD_TIMEOUT)
    pipeline = Pipeline(config, table)
    source = KafkaSource(config, bootstrap, [config.topics.inbound], stop)
    sink = KafkaSink(config, bootstrap)
    try:
        await sink.start(stop)
        await source.start(stop)
    except KafkaError:
        feed.cancel()
        if stop.is_set():
            log.info("stopped before the broker could be reached; nothing consumed")
            return 0
        raise
    log.info("routing %s (mode %s, group %s) on %s", config.topics.inbound, config.mode,
             config.group_id, bootstrap)
    clean = True
    try:
        total = await run_loop(source, sink, pipeline, stop, batch_max=config.batch_max,
                               poll_timeout_ms=config.poll_timeout_ms, observer=observer)
    except StoppedError as exc:
        total, clean = exc.total, False
    finally:
        await source.stop()
        await sink.stop()
        stop.set()
        feed.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await feed
    if clean:
        log.info("stopped after %d records; offsets committed, leaving the group", total)
    else:
        log.warning("stopped after %d records; the last batch is uncommitted and will be "
                    "processed again on restart", total)
    return 0


async def _first(*events: asyncio.Event) -> None:
    """Return as soon as any of ``events`` is set."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


def run_command(config: Config, bootstrap: str | None) -> int:
    """``stellwerk run``: with no bootstrap, start the embedded broker first."""
    configure_logging(config.log_level)
    broker: EmbeddedBroker | None = None
    target = bootstrap or config.kafka.bootstrap
    if not target:
        broker = EmbeddedBroker()
        broker.start()
        target = broker.bootstrap
        log.info("no bootstrap servers configured: started the embedded broker at %s", target)
    try:
        return run_async(lambda: serve(config, target))
    finally:
        if broker is not None:
            broker.stop()
