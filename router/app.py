"""``stellwerk run``: wire config, Kafka, routing feed, metrics and the loop together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from prometheus_client import start_http_server

from .config import Config
from .core.pipeline import Pipeline
from .core.tables import LiveTable
from .families import ROUTES, build_pipeline
from .kafka import KafkaError, KafkaSink, KafkaSource, ensure_topics
from .kafka.broker import EmbeddedBroker
from .kafka.tables import follow_table
from .loop import StoppedError, run_loop, until_stopped
from .metrics import PrometheusObserver

__all__ = ["configure_logging", "run_async", "serve"]

log = logging.getLogger("stellwerk")
T = TypeVar("T")

#: Seconds from SIGTERM to exit, at most (Kubernetes' default grace period is 30 s).
STOP_BOUND = 9.0


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


async def _or_stop(op: Awaitable[T], stop: asyncio.Event) -> T | None:
    """``await op`` unless stop comes first (then op is cancelled and None returned): a
    frozen broker must not hold a start-up step past SIGTERM."""
    try:
        return await until_stopped(op, stop, 0.0, "start-up")
    except StoppedError:
        return None


async def _supervise(name: str, start: Callable[[], Coroutine[Any, Any, None]],
                     stop: asyncio.Event) -> None:
    """Keep a background task running: a feed that dies is restarted with backoff, so
    the router never goes on with a table that silently stopped updating."""
    delay = 1.0
    while not stop.is_set():
        try:
            await start()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("%s failed (%s); restarting it in %.0fs", name, type(exc).__name__,
                      delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 30.0)
        else:
            return


def _hard_stop_after(seconds: float) -> threading.Timer:
    """Last resort behind the bounded stop: exit even if a close hangs somewhere.

    Nothing unacknowledged was committed, so exiting here loses nothing.
    """
    def fire() -> None:
        log.error("stop took longer than %.0fs; exiting now (uncommitted records are "
                  "replayed)", seconds)
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    return timer


async def serve(config: Config, bootstrap: str, stop: asyncio.Event | None = None) -> int:
    """Run the router until SIGTERM/SIGINT (or ``stop``); returns the exit code.

    Stop is bounded in every state (start-up against a frozen broker, retrying sends,
    group join): within ``STOP_BOUND`` seconds of the signal the process has exited.
    """
    stop = stop or asyncio.Event()
    _install_signals(stop)
    watchdog = asyncio.create_task(_arm_on_stop(stop))
    try:
        return await _serve(config, bootstrap, stop)
    finally:
        watchdog.cancel()


async def _arm_on_stop(stop: asyncio.Event) -> None:
    await stop.wait()
    _hard_stop_after(STOP_BOUND).start()


async def _serve(config: Config, bootstrap: str, stop: asyncio.Event) -> int:
    observer = PrometheusObserver()
    if config.metrics_port:
        start_http_server(config.metrics_port, registry=observer.registry)
        log.info("metrics on :%d/metrics", config.metrics_port)
    try:
        await _or_stop(ensure_topics(config, bootstrap, stop=stop), stop)
    except KafkaError:
        if stop.is_set():
            log.info("stopped before the broker could be reached; nothing consumed")
            return 0
        raise
    if stop.is_set():
        log.info("stopped before the broker could be reached; nothing consumed")
        return 0
    pipeline = build_pipeline(config)
    feeds, waits = _start_feeds(config, bootstrap, pipeline, stop, observer)
    lanes = _lanes(config, pipeline)
    sources = [KafkaSource(config, bootstrap, topics, stop, group_id=group)
               for _, topics, group, _ in lanes]
    sinks = [KafkaSink(config, bootstrap) for _ in lanes]
    clean, total = True, 0
    try:
        # No record is routed before every live table was read to its end.
        for topic, loaded in waits:
            if await _or_stop(_loaded_within(loaded, config.routes_load_timeout),
                              stop) is False:
                log.error("table %s not read to its end within %.0fs; stopping without "
                          "consuming (raise routes_load_timeout?)", topic,
                          config.routes_load_timeout)
                return 1
        for sink, source in zip(sinks, sources, strict=True):
            await _or_stop(sink.start(stop), stop)
            await _or_stop(source.start(stop), stop)
        if stop.is_set():
            log.info("stopped during start-up; nothing consumed")
            return 0
        for name, topics, group, _ in lanes:
            log.info("routing %s: %s (mode %s, group %s) on %s", name, ", ".join(topics),
                     config.mode, group, bootstrap)
        loops = [run_loop(source, sink, pipeline, stop, batch_max=batch_max,
                          poll_timeout_ms=config.poll_timeout_ms, observer=observer,
                          stop_grace=config.stop_grace)
                 for (_, _, _, batch_max), source, sink in zip(lanes, sources, sinks,
                                                               strict=True)]
        releasing = await _releaser(config, bootstrap, pipeline, stop, observer, sinks)
        results = await asyncio.gather(*loops, *releasing, return_exceptions=True)
        results = results[:len(loops)]
        for res in results:
            if isinstance(res, StoppedError):
                total, clean = total + res.total, False
            elif isinstance(res, BaseException):
                stop.set()
                raise res
            else:
                total += res
    except StoppedError as exc:
        total, clean = exc.total, False
    except KafkaError:
        if not stop.is_set():
            raise
        log.info("stopped before the broker could be reached; nothing consumed")
    finally:
        stop.set()
        await asyncio.gather(*(s.stop() for s in sources), *(s.stop() for s in sinks))
        for feed in feeds:
            feed.cancel()
        for feed in feeds:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await feed
        for family in pipeline.families:
            close = getattr(family, "close", None)
            if close is not None:
                close()
    if clean:
        log.info("stopped after %d records; offsets committed, leaving the group", total)
    else:
        log.warning("stopped after %d records; the last batch is uncommitted and will be "
                    "processed again on restart", total)
    return 0


async def _releaser(config: Config, bootstrap: str, pipeline: Pipeline, stop: asyncio.Event,
                    observer: PrometheusObserver, sinks: list[KafkaSink]
                    ) -> list[Coroutine[Any, Any, int]]:
    """The releaser of held KIM mails (with its own producer), if KIM is routed here."""
    kim = pipeline.family_of(config.kim.inbound) if config.kim.enabled else None
    if kim is None:
        return []
    from .families.kim import KimFamily  # noqa: PLC0415 - PDF/OCR libraries only when used
    from .releaser import run_releaser  # noqa: PLC0415

    assert isinstance(kim, KimFamily)
    sink = KafkaSink(config, bootstrap)
    sinks.append(sink)
    await _or_stop(sink.start(stop), stop)
    return [run_releaser(kim, pipeline.tables, sink, stop, observer,
                         grace=config.stop_grace)]


def _lanes(config: Config, pipeline: Pipeline) -> list[tuple[str, list[str], str, int]]:
    """(family, input topics, consumer group, batch size) per loop. Each family runs its
    own loop and consumer so that slow mails (OCR) never hold a §301 batch, and a KIM
    batch stays small enough for ``max_poll_interval_ms``."""
    lanes = []
    for family in pipeline.families:
        if family.name == "s301":
            lanes.append((family.name, list(family.inputs), config.group_id, config.batch_max))
        else:
            lanes.append((family.name, list(family.inputs),
                          f"{config.group_id}.{family.name}", config.kim.batch_max))
    return lanes


def _start_feeds(config: Config, bootstrap: str, pipeline: Pipeline, stop: asyncio.Event,
                 observer: PrometheusObserver
                 ) -> tuple[list[asyncio.Task[None]], list[tuple[str, asyncio.Event]]]:
    """One supervised feed per live table of the pipeline's families."""
    feeds: list[asyncio.Task[None]] = []
    waits: list[tuple[str, asyncio.Event]] = []
    for family in pipeline.families:
        for spec in family.tables:
            table = pipeline.tables.table(spec.name)
            loaded = asyncio.Event()
            on_change = observer.on_routes if spec.name == ROUTES else None

            def start(topic: str = spec.topic, table: LiveTable = table,
                      loaded: asyncio.Event = loaded,
                      on_change: Callable[[int], None] | None = on_change
                      ) -> Coroutine[Any, Any, None]:
                return follow_table(config, bootstrap, topic, table, loaded, stop, on_change)

            feeds.append(asyncio.create_task(_supervise(f"table feed {spec.topic}", start,
                                                        stop)))
            if spec.required:
                waits.append((spec.topic, loaded))
    return feeds, waits


async def _loaded_within(loaded: asyncio.Event, timeout: float) -> bool:
    try:
        await asyncio.wait_for(loaded.wait(), timeout)
    except TimeoutError:
        return False
    return True


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
