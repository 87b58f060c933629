"""``stellwerk run``: wire config, Kafka, routing feed, metrics and the loop together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import msgspec

import sgb301

from .config import Config
from .core.pipeline import Pipeline
from .core.tables import LiveTable
from .families import build_pipeline
from .kafka import KafkaError, KafkaSink, KafkaSource, ensure_topics
from .kafka.broker import EmbeddedBroker
from .kafka.tables import follow_table
from .logs import configure_logging
from .loop import StoppedError, run_loop, until_stopped
from .metrics import MetricsServer, PrometheusObserver, Readiness, build_info

__all__ = ["bootstrap_or_embedded", "install_signals", "run_async", "serve"]

log = logging.getLogger("stellwerk")
T = TypeVar("T")

#: Seconds from SIGTERM to exit, at most (Kubernetes' default grace period is 30 s).
STOP_BOUND = 9.0


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main`` on uvloop where available."""
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up, absent on some platforms

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


def install_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set ``stop``."""
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
    install_signals(stop)
    watchdog = asyncio.create_task(_arm_on_stop(stop))
    try:
        return await _serve(config, bootstrap, stop)
    finally:
        watchdog.cancel()


async def _arm_on_stop(stop: asyncio.Event) -> None:
    await stop.wait()
    _hard_stop_after(STOP_BOUND).start()


class _Lane(msgspec.Struct):
    """One family's loop: its topics, consumer group, batch size, source and sink."""

    family: str
    topics: list[str]
    group: str
    batch_max: int
    source: KafkaSource
    sink: KafkaSink


async def _serve(config: Config, bootstrap: str, stop: asyncio.Event) -> int:
    pipeline = build_pipeline(config)
    observer = PrometheusObserver(info=build_info(tuple(f.name for f in pipeline.families)))
    readiness = Readiness()
    server: MetricsServer | None = None
    if config.metrics_port:
        # Up first: /healthz answers and /readyz says why not ready during start-up.
        server = MetricsServer(observer.registry, readiness, config.metrics_port,
                               config.metrics_host)
        await server.start()
    try:
        return await _route(config, bootstrap, stop, pipeline, observer, readiness)
    finally:
        if server is not None:
            await server.stop()


async def _route(config: Config, bootstrap: str, stop: asyncio.Event, pipeline: Pipeline,
                 observer: PrometheusObserver, readiness: Readiness) -> int:
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
    feeds, waits = _start_feeds(config, bootstrap, pipeline, stop)
    lanes = _lanes(config, bootstrap, pipeline, stop)
    sources = [lane.source for lane in lanes]
    sinks = [lane.sink for lane in lanes]
    watch(observer, readiness, pipeline, lanes, [loaded for _, loaded in waits])
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
        for lane in lanes:
            await _or_stop(lane.sink.start(stop), stop)
            if config.kafka.leave_group == "auto" and lane.sink.refused_idempotence:
                lane.source.leave_group = False
            await _or_stop(lane.source.start(stop), stop)
        if not all(lane.source.leave_group for lane in lanes):
            why = ("off" if config.kafka.leave_group == "off"
                   else "auto, and the broker refused the idempotent producer")
            log.info("stopping will not send LeaveGroup (kafka.leave_group %s): partitions "
                     "move after the session timeout", why)
        if stop.is_set():
            log.info("stopped during start-up; nothing consumed")
            return 0
        log.info("§301 codec: %s", sgb301.NATIVE_STATUS)
        for lane in lanes:
            log.info("routing %s: %s (mode %s, group %s) on %s", lane.family,
                     ", ".join(lane.topics), config.mode, lane.group, bootstrap)
        loops = [run_loop(lane.source, lane.sink, pipeline, stop, batch_max=lane.batch_max,
                          poll_timeout_ms=config.poll_timeout_ms, observer=observer,
                          stop_grace=config.stop_grace)
                 for lane in lanes]
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


def watch(observer: PrometheusObserver, readiness: Readiness, pipeline: Pipeline,
          lanes: list[_Lane], loaded: list[asyncio.Event]) -> None:
    """Scrape-time probes and readiness conditions of a router process."""
    def lag() -> Iterator[tuple[tuple[str, ...], float]]:
        for lane in lanes:
            for topic, partition, behind in lane.source.lag():
                yield (lane.family, topic, str(partition)), behind

    def per_lane(read: Callable[[_Lane], float]) -> Callable[[], list[tuple[tuple[str, ...],
                                                                              float]]]:
        return lambda: [((lane.family,), read(lane)) for lane in lanes]

    def brokers() -> list[tuple[tuple[str, ...], float]]:
        out: list[tuple[tuple[str, ...], float]] = []
        for lane in lanes:
            out.append(((f"{lane.family}.consumer",), float(lane.source.broker_up())))
            out.append(((f"{lane.family}.producer",), float(lane.sink.broker_up())))
        return out

    blobs = pipeline.dead_letters.blobs
    observer.watch("stellwerk_consumer_lag", lag)
    observer.watch("stellwerk_assigned_partitions", per_lane(lambda ln: ln.source.assigned()))
    observer.watch("stellwerk_rebalances_total", per_lane(lambda ln: ln.source.rebalances))
    observer.watch("stellwerk_last_commit_timestamp_seconds",
                   per_lane(lambda ln: ln.source.last_commit))
    observer.watch("stellwerk_broker_up", brokers)
    observer.watch("stellwerk_claim_check_bytes_total", lambda: [((), blobs.written_bytes)])
    observer.watch("stellwerk_claim_checks_total", lambda: [((), blobs.written)])
    observer.watch("stellwerk_table_entries",
                   lambda: [((name,), n) for name, n in pipeline.tables.sizes().items()])
    kim = next((f for f in pipeline.families if f.name == "kim"), None)
    if kim is not None:
        observer.watch("stellwerk_kim_pool_queue", lambda: [((), getattr(kim, "in_flight", 0))])
        observer.watch("stellwerk_kim_pool_workers",
                       lambda: [((), getattr(getattr(kim, "settings", None), "workers", 0))])
    readiness.add("tables loaded", lambda: all(e.is_set() for e in loaded))
    readiness.add("partitions assigned", lambda: all(ln.source.rebalances for ln in lanes))
    readiness.add("broker reachable",
                  lambda: all(ln.source.broker_up() and ln.sink.broker_up() for ln in lanes))
    observer.watch("stellwerk_ready", lambda: [((), float(readiness.ready()))])


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


def _lanes(config: Config, bootstrap: str, pipeline: Pipeline, stop: asyncio.Event
           ) -> list[_Lane]:
    """One loop per family, with its own consumer and producer, so that slow mails (OCR)
    never hold a §301 batch, and a KIM batch stays small enough for
    ``max_poll_interval_ms``."""
    lanes = []
    for family in pipeline.families:
        topics = list(family.inputs)
        if family.name == "s301":
            group, batch_max = config.group_id, config.batch_max
        else:
            group, batch_max = f"{config.group_id}.{family.name}", config.kim.batch_max
        lanes.append(_Lane(family.name, topics, group, batch_max,
                           KafkaSource(config, bootstrap, topics, stop, group_id=group),
                           KafkaSink(config, bootstrap)))
    return lanes


def _start_feeds(config: Config, bootstrap: str, pipeline: Pipeline, stop: asyncio.Event
                 ) -> tuple[list[asyncio.Task[None]], list[tuple[str, asyncio.Event]]]:
    """One supervised feed per live table of the pipeline's families."""
    feeds: list[asyncio.Task[None]] = []
    waits: list[tuple[str, asyncio.Event]] = []
    for family in pipeline.families:
        for spec in family.tables:
            table = pipeline.tables.table(spec.name)
            loaded = asyncio.Event()

            def start(topic: str = spec.topic, table: LiveTable = table,
                      loaded: asyncio.Event = loaded) -> Coroutine[Any, Any, None]:
                return follow_table(config, bootstrap, topic, table, loaded, stop)

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


@contextlib.contextmanager
def bootstrap_or_embedded(config: Config, bootstrap: str | None) -> Iterator[str]:
    """The bootstrap servers to use: given, configured, or (neither) those of an
    embedded broker started here and stopped on exit."""
    target = bootstrap or config.kafka.bootstrap
    if target:
        yield target
        return
    broker = EmbeddedBroker()
    broker.start()
    log.info("no bootstrap servers configured: started the embedded broker at %s",
             broker.bootstrap)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


def run_command(config: Config, bootstrap: str | None) -> int:
    """``stellwerk run``: with no bootstrap, start the embedded broker first."""
    configure_logging(config.log_level, config.log_format)
    with bootstrap_or_embedded(config, bootstrap) as target:
        return run_async(lambda: serve(config, target))
