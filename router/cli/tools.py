"""Operator tools around the broker: broker, send, tail, replay, ingest.

Each ``*_main`` takes the parsed arguments and the loaded config and returns the exit
code (0 ok, 1 partial failure, 2 usage error or broker unreachable).

None of these tools ever prints or logs payload content (health data), file names (they
may hold patients' names) or exception messages (they may quote either): ``send`` and
``ingest`` report argument positions, name digests, sizes and offsets; failures are
reported by exception type. Only ``tail --json`` prints values, because that is what it
is asked for.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import stat
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, TextIO

import msgspec
import orjson

from sgb301 import scan

from ..app import run_async
from ..blobstore import BlobError, DirBlobStore
from ..config import Config
from ..core.envelope import Envelope, KimEnvelope, S301Envelope, codec_for
from ..core.headers import ENVELOPE_HEADER, ID_HEADER
from ..core.records import Header
from ..kafka import (
    MAX_RECORD_BYTES,
    AIOKafkaConsumer,
    AIOKafkaProducer,
    KafkaError,
    MessageSizeTooLargeError,
    TopicPartition,
    connection_kwargs,
    start_with_retry,
)
from ..kafka.broker import EmbeddedBroker
from ..logs import configure_logging

__all__ = [
    "CONNECT_TIMEOUT",
    "INGEST_ONCE_BOUND",
    "INPUT_ID_HEADER",
    "REPLAYED_HEADER",
    "BrokerUnreachableError",
    "bootstrap_of",
    "broker_main",
    "envelope_format",
    "header_text",
    "ingest_main",
    "input_id",
    "name_digest",
    "receiver_key",
    "replay_headers",
    "replay_main",
    "replay_target",
    "send_main",
    "tail_main",
]

log = logging.getLogger("stellwerk.tools")

#: Seconds ``send``/``tail``/``replay``/``ingest --once`` keep retrying to reach the broker.
CONNECT_TIMEOUT = 10.0
#: Seconds a replay may go without progress before it gives up (exit 2).
REPLAY_STALL_TIMEOUT = 30.0
#: Header naming the source record of a replayed record: ``<topic>/<partition>/<offset>``.
REPLAYED_HEADER = "stellwerk-replayed-from"
#: Header of an ingested record: ``sha256:<hex of the file's bytes>`` (never the name).
INPUT_ID_HEADER = "stellwerk-input-id"

EXIT_OK, EXIT_PARTIAL, EXIT_BROKER = 0, 1, 2
Format = Literal["json", "msgpack"]
_FORMATS: tuple[Format, Format] = ("json", "msgpack")


class BrokerUnreachableError(Exception):
    """The broker could not be reached within :data:`CONNECT_TIMEOUT`."""


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
    done = threading.Event()
    # Before the bootstrap line: whoever reads it may signal at once.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    broker = EmbeddedBroker(port)
    broker.start()
    sys.stdout.write(f"bootstrap={broker.bootstrap}\n")
    sys.stdout.flush()
    try:
        while not done.wait(0.5):
            pass
    finally:
        broker.stop()
    return 0


# ---- shared helpers -------------------------------------------------------------------
async def _start_bounded(client: Any, what: str, timeout: float | None = None) -> None:
    """``await client.start()``, retrying for at most ``timeout`` seconds (default
    :data:`CONNECT_TIMEOUT`); then close the client and raise :class:`BrokerUnreachableError`.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (CONNECT_TIMEOUT if timeout is None else timeout)
    delay = 0.25
    while True:
        remaining = deadline - loop.time()
        try:
            await asyncio.wait_for(client.start(), max(remaining, 0.1))
            return
        except (KafkaError, TimeoutError, OSError) as exc:
            if loop.time() + delay >= deadline:
                with contextlib.suppress(Exception):
                    await client.stop()
                raise BrokerUnreachableError(f"{what}: broker unreachable "
                                        f"({type(exc).__name__})") from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def _start_ingest(producer: AIOKafkaProducer, what: str, once: bool,
                        stop: asyncio.Event) -> bool:
    """Start an ingest's producer: bounded with ``--once`` (BrokerUnreachableError),
    else retried until the broker answers; False when stopped before it did."""
    if once:
        await _start_bounded(producer, what)
        return True
    try:
        await start_with_retry(producer, what, stop)
    except KafkaError:  # stopped while the broker was unreachable
        return False
    return True


def _producer(config: Config, bootstrap: str) -> AIOKafkaProducer:
    # acks=all, no idempotence (the embedded broker does not support it; ids are
    # content-derived, so a duplicate is harmless downstream).
    return AIOKafkaProducer(**connection_kwargs(config.kafka, bootstrap), acks="all",
                            linger_ms=5, max_request_size=MAX_RECORD_BYTES,
                            request_timeout_ms=15000)


def _consumer(config: Config, bootstrap: str, group_id: str | None,
              reset: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(**connection_kwargs(config.kafka, bootstrap), group_id=group_id,
                            enable_auto_commit=False, auto_offset_reset=reset,
                            fetch_max_wait_ms=100,
                            max_partition_fetch_bytes=MAX_RECORD_BYTES,
                            fetch_max_bytes=4 * MAX_RECORD_BYTES)


async def _partitions(consumer: Any, topic: str) -> list[TopicPartition]:
    """All partitions of ``topic`` from fresh metadata (empty if it does not exist).

    Reads the full cluster metadata, which never auto-creates a topic.
    """
    cluster = await consumer._client.fetch_all_metadata()
    parts = cluster.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(parts)]


async def _fetched_highwaters(consumer: Any, tps: list[TopicPartition],
                              timeout: float = 5.0) -> dict[TopicPartition, int]:
    """High watermarks from the first fetch responses after assignment (the consumer's
    background fetcher sends them; nothing is consumed here). Partitions whose response
    did not arrive within ``timeout`` are missing.

    Needed because the embedded Tansu broker answers ListOffsets(latest) with the base
    offset of the last record batch + 1, which is too low when that batch holds several
    records; the fetch high watermark is right. With Apache Kafka both agree.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        known = {tp: hw for tp in tps if (hw := consumer.highwater(tp)) is not None}
        if len(known) == len(tps) or loop.time() >= deadline:
            return known
        await asyncio.sleep(0.02)


def _install_stop(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)


def _latin1(data: bytes | None) -> str | None:
    return None if data is None else data.decode("latin-1")


def header_text(data: bytes | None) -> str | None:
    """A header value as text: UTF-8 when it is valid UTF-8 (the router writes its
    ``stellwerk-error`` texts, "Prüfstufe" and all, in UTF-8), else ISO 8859-1, which
    decodes any bytes (reversible with ``encode("latin-1")``)."""
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def envelope_format(value: bytes | None, headers: Iterable[Header],
                    default: Format = "json") -> Format | None:
    """The format in which ``value`` decodes as a Stellwerk :class:`Envelope`, or None.

    Tries the ``stellwerk-envelope`` header's format (else ``default``) first, then the
    other one. Raw EDIFACT, mails and DLQ originals decode as neither.
    """
    if not value:
        return None
    hinted = dict(headers).get(ENVELOPE_HEADER)
    first: Format = ("msgpack" if hinted == b"msgpack" else "json") if hinted else default
    for fmt in (first, *(f for f in _FORMATS if f != first)):
        try:
            codec_for(fmt)[1].decode(value)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
            continue
        return fmt
    return None


def _quiet(config: Config) -> None:
    """Log setup of the tools: our lines on stderr; aiokafka's per-attempt connection
    errors only at DEBUG (the tools report the outcome in one line)."""
    configure_logging(config.log_level, config.log_format)
    if config.log_level != "DEBUG":
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def _fail(message: str) -> int:
    sys.stderr.write(f"stellwerk: {message}\n")
    return EXIT_BROKER


# ---- send -----------------------------------------------------------------------------
def send_main(args: argparse.Namespace, config: Config) -> int:
    """``stellwerk send TOPIC PATH... [--key K]``: each file becomes one record.

    The value is the file's bytes unchanged, the key ``--key`` (else none). Prints
    ``sent N record(s) to TOPIC, M acknowledged``. Exit 0 when every record was
    acknowledged; 1 when some file could not be read or is larger than a record may be
    (on stderr by its position among the PATHs and a digest of its name, never the name,
    which may hold a patient's name; the others are sent); 2 when the broker is unreachable (bounded
    retry, :data:`CONNECT_TIMEOUT` s) or did not acknowledge a record.
    """
    bootstrap = bootstrap_of(args, config)
    _quiet(config)
    key = args.key.encode() if args.key is not None else None
    try:
        return run_async(lambda: _send(config, bootstrap, args.topic, args.paths, key))
    except BrokerUnreachableError as exc:
        return _fail(str(exc))


def _path_label(index: int, path: str) -> str:
    """How ``send`` names a file on stderr: its position among the PATH arguments and a
    digest of its name (:func:`name_digest`), since the name may hold a patient's name."""
    return f"PATH {index} (name {name_digest(Path(path).name)})"


async def _send(config: Config, bootstrap: str, topic: str, paths: Sequence[str],
                key: bytes | None) -> int:
    readable: list[tuple[str, str]] = []  # (label, path)
    bad = 0
    for index, p in enumerate(paths, 1):
        label = _path_label(index, p)
        try:
            st = os.stat(p)
        except OSError as exc:
            sys.stderr.write(f"stellwerk send: {label}: cannot read: "
                             f"{type(exc).__name__}\n")
            bad += 1
            continue
        size = st.st_size
        if not stat.S_ISREG(st.st_mode):
            sys.stderr.write(f"stellwerk send: {label}: cannot read: not a regular file\n")
            bad += 1
            continue
        if size > MAX_RECORD_BYTES:
            sys.stderr.write(f"stellwerk send: {label}: {size} bytes, larger than the "
                             f"maximum record size ({MAX_RECORD_BYTES})\n")
            bad += 1
            continue
        readable.append((label, p))
    sent, acked, lost = 0, 0, 0
    if readable:
        producer = _producer(config, bootstrap)
        await _start_bounded(producer, "send")
        try:
            pending: list[tuple[str, asyncio.Future[Any]]] = []
            for label, p in readable:
                try:
                    data = Path(p).read_bytes()
                except OSError as exc:
                    sys.stderr.write(f"stellwerk send: {label}: cannot read: "
                                     f"{type(exc).__name__}\n")
                    bad += 1
                    continue
                try:
                    pending.append((label, await producer.send(topic, data, key=key)))
                except MessageSizeTooLargeError:
                    sys.stderr.write(f"stellwerk send: {label}: larger than the maximum "
                                     "record size\n")
                    bad += 1
                    continue
                except KafkaError as exc:
                    sys.stderr.write(f"stellwerk send: {label}: not sent: "
                                     f"{type(exc).__name__}\n")
                    lost += 1
                    continue
                sent += 1
            results = await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
            for (label, _), res in zip(pending, results, strict=True):
                if isinstance(res, BaseException):
                    sys.stderr.write(f"stellwerk send: {label}: not acknowledged: "
                                     f"{type(res).__name__}\n")
                    lost += 1
                else:
                    acked += 1
        finally:
            await producer.stop()
    sys.stdout.write(f"sent {sent} record(s) to {topic}, {acked} acknowledged\n")
    if lost:
        return EXIT_BROKER
    return EXIT_PARTIAL if bad else EXIT_OK


# ---- tail -----------------------------------------------------------------------------
def tail_main(args: argparse.Namespace, config: Config) -> int:
    """``stellwerk tail TOPIC [--from-beginning] [--max N] [--timeout S] [--json]``.

    Reads every partition of TOPIC without a consumer group (nothing is committed, the
    router's group is never disturbed), from the end (default) or the beginning.

    With ``--json`` one JSON object per line::

        {"topic": str, "partition": int, "offset": int, "key": str | null,
         "headers": {name: str}, "value": object | str | null}

    ``key`` is the bytes as an ISO 8859-1 string; a header value is decoded as UTF-8
    when it is valid UTF-8 (the router's ``stellwerk-error`` texts), else as ISO 8859-1
    (a repeated header name keeps its last value). ``value`` is the decoded envelope (a
    JSON object) when the record value is a Stellwerk envelope (json or msgpack: the
    ``stellwerk-envelope`` header's format, else ``output_format``, else the other);
    otherwise (DLQ originals, FEHL/KOUB replies, raw inbound records) the raw bytes as an
    ISO 8859-1 string; null for a record without value.

    Without ``--json`` one short line per record (topic/partition/offset, key, id, type,
    verdict, size) and never the payload.

    Stops after ``--max`` records or ``--timeout`` seconds without a new record (exit 0),
    otherwise at Ctrl-C/SIGTERM (exit 0). A line ``tailing …`` on stderr tells when the
    start positions are fixed. Partitions added while tailing are not followed.
    """
    bootstrap = bootstrap_of(args, config)
    if args.max < 0 or args.timeout < 0:
        return _fail("tail: --max and --timeout must not be negative")
    _quiet(config)
    try:
        return run_async(lambda: _tail(args, config, bootstrap, sys.stdout))
    except BrokerUnreachableError as exc:
        return _fail(str(exc))


def _tail_object(r: Any, default: Format) -> dict[str, Any]:
    headers = tuple(r.headers or ())
    value: Any = _latin1(r.value)
    fmt = envelope_format(r.value, headers, default)
    if fmt is not None:
        value = (msgspec.msgpack.decode(r.value) if fmt == "msgpack"
                 else msgspec.json.decode(r.value))
    return {"topic": r.topic, "partition": r.partition, "offset": r.offset,
            "key": _latin1(r.key), "headers": {k: header_text(v) for k, v in headers},
            "value": value}


def _tail_line(r: Any, default: Format) -> str:
    headers = dict(r.headers or ())
    rid = header_text(headers.get(ID_HEADER, b"-"))
    mtype = header_text(headers.get("stellwerk-type", b"-"))
    verdict = header_text(headers.get("stellwerk-verdict", b"-"))
    fmt = envelope_format(r.value, headers.items(), default)
    if fmt is not None:
        env: Envelope = codec_for(fmt)[1].decode(r.value)
        mtype = env.type if isinstance(env, S301Envelope) else "kim"
        rid, verdict = env.id, env.verdict
    key = "-" if r.key is None else r.key.decode("latin-1")
    size = 0 if r.value is None else len(r.value)
    return (f"{r.topic}/{r.partition}/{r.offset} key={key} id={rid} type={mtype} "
            f"verdict={verdict} bytes={size}\n")


async def _tail(args: argparse.Namespace, config: Config, bootstrap: str,
                out: TextIO) -> int:
    stop = asyncio.Event()
    _install_stop(stop)
    loop = asyncio.get_running_loop()
    consumer = _consumer(config, bootstrap, None,
                         "earliest" if args.from_beginning else "latest")
    await _start_bounded(consumer, "tail")
    default = config.output_format
    limit, timeout = int(args.max), float(args.timeout)
    count = 0
    last = loop.time()

    def idle_left() -> float:
        return timeout - (loop.time() - last) if timeout else 1.0

    try:
        tps = await _partitions(consumer, args.topic)
        if not tps:
            sys.stderr.write(f"stellwerk tail: topic {args.topic} does not exist (yet); "
                             "waiting\n")
        while not tps and not stop.is_set() and idle_left() > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(1.0, idle_left()))
            tps = await _partitions(consumer, args.topic)
        if not tps:
            return EXIT_OK
        consumer.assign(tps)
        if args.from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
            for tp, hw in (await _fetched_highwaters(consumer, tps)).items():
                if hw > await consumer.position(tp):
                    consumer.seek(tp, hw)
        for tp in tps:
            await consumer.position(tp)  # fixes the start positions now
        sys.stderr.write(f"stellwerk tail: tailing {args.topic} ({len(tps)} partitions) "
                         f"from the {'beginning' if args.from_beginning else 'end'}\n")
        sys.stderr.flush()
        while not stop.is_set() and (not limit or count < limit):
            wait = idle_left()
            if wait <= 0:
                break
            want = min(500, limit - count) if limit else 500
            try:
                batches = await consumer.getmany(timeout_ms=int(min(wait, 0.5) * 1000),
                                                 max_records=want)
            except KafkaError as exc:
                log.warning("tail: fetch failed (%s)", type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            records = sorted((r for rs in batches.values() for r in rs),
                             key=lambda r: (r.timestamp, r.partition, r.offset))
            if not records:
                continue
            last = loop.time()
            for r in records[: (limit - count) if limit else None]:
                if args.json:
                    out.write(orjson.dumps(_tail_object(r, default)).decode() + "\n")
                else:
                    out.write(_tail_line(r, default))
                count += 1
            out.flush()
    finally:
        await consumer.stop()
    return EXIT_OK


# ---- replay ---------------------------------------------------------------------------
def replay_main(args: argparse.Namespace, config: Config) -> int:
    """``stellwerk replay --from TOPIC [--to TOPIC]``: re-inject held records after a fix.

    Reads ``--from`` where the group ``stellwerk-replay.<TOPIC>`` left off (first time:
    the beginning) up to the end offsets taken at start (the larger of ListOffsets and
    the first fetch's high watermark, see :func:`_fetched_highwaters`), and produces each
    record with the same key, value and headers plus
    ``stellwerk-replayed-from: <topic>/<partition>/<offset>`` (replacing an older one).

    Where each record goes (without ``--to``):

    * a value that is a Stellwerk envelope (``s301.unroutable``, ``s301.rejected`` …)
      goes to the replay topic (``topics.replay``, default ``stellwerk.replay``) with
      ``stellwerk-envelope: json|msgpack``: the router re-routes envelopes only from that
      topic (so a producer with access to inbound cannot forge a verdict) and the
      envelope keeps its id;
    * a KIM envelope (``kim.quarantine``, ``kim.unmatched``) is replaced by the original
      mail (inline or from the claim-check blob store) and goes to ``kim.inbound`` without
      key, to be analysed again; tombstones are skipped. Mails held in ``kim.unmatched``
      and released since are replayed too (same mail id again, never a loss);
    * anything else, and every record of the DLQ (original bytes), goes to the inbound
      topic (``topics.inbound``) without that header and is validated again as an
      interchange (same content, same ids). A ``stellwerk-envelope`` header the original
      carried is dropped.

    ``--to TOPIC`` sends every record there instead (envelopes still marked); the router
    re-routes them only if TOPIC is its replay topic, which is said on stderr.

    The group's offsets are committed per batch, only after every record of the batch was
    acknowledged, so running replay twice replays nothing twice (a crash in between
    replays the last batch again: at-least-once).

    Prints ``replayed N record(s) from X to Y`` (several targets, in name order:
    ``to Y (n), Z (m)``).
    Exit 0; 2 when the broker is unreachable, the source topic does not exist or a batch
    is not acknowledged.
    """
    bootstrap = bootstrap_of(args, config)
    _quiet(config)
    try:
        return run_async(lambda: _replay(config, bootstrap, args.source, args.target))
    except BrokerUnreachableError as exc:
        return _fail(str(exc))


def replay_headers(headers: Iterable[Header], source: str, partition: int, offset: int,
                   fmt: Format | None) -> list[Header]:
    """The headers of a replayed record: the original ones plus provenance (and the
    envelope format when the value is an envelope)."""
    out = [(k, v) for k, v in headers if k not in (REPLAYED_HEADER, ENVELOPE_HEADER)]
    out.append((REPLAYED_HEADER, f"{source}/{partition}/{offset}".encode()))
    if fmt is not None:
        out.append((ENVELOPE_HEADER, fmt.encode()))
    return out


def replay_target(config: Config, explicit: str | None, fmt: Format | None) -> str:
    """Where a replayed record goes: ``--to`` if given, else envelopes (``fmt`` set) to
    the replay topic and raw records to inbound."""
    if explicit:
        return explicit
    return config.topics.replay if fmt is not None else config.topics.inbound


def kim_original(config: Config, value: bytes, fmt: Format) -> bytes | None:
    """The original mail of a KIM envelope (inline or from the claim-check blob store);
    None when ``value`` is not a KIM envelope. A missing blob raises :class:`BlobError`.
    """
    env = codec_for(fmt)[1].decode(value)
    if not isinstance(env, KimEnvelope):
        return None
    if env.raw_blob:
        return DirBlobStore(config.limits.blob_dir).get(env.raw_blob)
    return env.raw


def _replay_summary(source: str, counts: dict[str, int], default: str) -> str:
    total = sum(counts.values())
    targets = sorted(t for t, n in counts.items() if n) or [default]  # stable order
    if len(targets) == 1:
        return f"replayed {total} record(s) from {source} to {targets[0]}\n"
    parts = ", ".join(f"{t} ({counts[t]})" for t in targets)
    return f"replayed {total} record(s) from {source} to {parts}\n"


async def _replay(config: Config, bootstrap: str, source: str, explicit: str | None) -> int:
    loop = asyncio.get_running_loop()
    consumer = _consumer(config, bootstrap, f"stellwerk-replay.{source}", "earliest")
    producer = _producer(config, bootstrap)
    await _start_bounded(consumer, "replay")
    try:
        await _start_bounded(producer, "replay")
    except BrokerUnreachableError:
        await consumer.stop()
        raise
    is_dlq = source == config.topics.dlq
    # Named when nothing is replayed: where this source's records would have gone.
    default = explicit or (config.topics.inbound if is_dlq else config.topics.replay)
    counts: dict[str, int] = {}
    envelopes_elsewhere = 0
    replayed = 0
    try:
        tps = await _partitions(consumer, source)
        if not tps:
            return _fail(f"replay: topic {source} does not exist")
        consumer.assign(tps)
        end = await consumer.end_offsets(tps)
        for tp in tps:
            committed = await consumer.committed(tp)
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        for tp, hw in (await _fetched_highwaters(consumer, tps)).items():
            end[tp] = max(end[tp], hw)
        pending = {tp for tp in tps if await consumer.position(tp) < end[tp]}
        progress = loop.time()
        while pending:
            if loop.time() - progress > REPLAY_STALL_TIMEOUT:
                return _fail(f"replay: no progress for {REPLAY_STALL_TIMEOUT:.0f}s; "
                             f"{replayed} record(s) replayed and committed so far")
            try:
                batches = await consumer.getmany(*pending, timeout_ms=1000, max_records=500)
            except KafkaError as exc:
                log.warning("replay: fetch failed (%s)", type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            futures: list[asyncio.Future[Any]] = []
            batch_counts: dict[str, int] = {}
            commit: dict[TopicPartition, int] = {}
            for tp, records in batches.items():
                for r in records:
                    if r.offset >= end[tp]:
                        break
                    headers = tuple(r.headers or ())
                    # DLQ values are original input bytes, never trusted as envelopes.
                    fmt = None if is_dlq else envelope_format(r.value, headers,
                                                              config.output_format)
                    commit[tp] = r.offset + 1
                    if r.value is None:
                        continue  # a tombstone (kim.unmatched: a released mail) has no input
                    value, key = r.value, r.key
                    try:
                        mail = kim_original(config, value, fmt) if fmt is not None else None
                    except BlobError as exc:
                        return _fail(f"replay: {source}/{r.partition}/{r.offset}: {exc}; "
                                     f"{replayed} record(s) replayed and committed before")
                    if mail is not None:
                        # A held or quarantined mail is analysed again from its original
                        # bytes (after a fix of the config or the case table): it goes
                        # to kim.inbound as raw mail, where the router expects mails.
                        value, key, fmt = mail, None, None
                        target = explicit or config.kim.inbound
                    else:
                        target = replay_target(config, explicit, fmt)
                    futures.append(await producer.send(
                        target, value, key=key,
                        headers=replay_headers(headers, source, r.partition, r.offset, fmt)))
                    batch_counts[target] = batch_counts.get(target, 0) + 1
                    if fmt is not None and target != config.topics.replay:
                        envelopes_elsewhere += 1
                if await consumer.position(tp) >= end[tp]:
                    commit[tp] = end[tp]
                    pending.discard(tp)
            if futures:
                try:
                    await asyncio.gather(*futures)
                except KafkaError as exc:
                    return _fail(f"replay: not acknowledged ({type(exc).__name__}); "
                                 f"{replayed} record(s) replayed and committed before")
                replayed += len(futures)
                for t, n in batch_counts.items():
                    counts[t] = counts.get(t, 0) + n
            if commit:
                await consumer.commit(commit)
                progress = loop.time()
    finally:
        await producer.stop()
        await consumer.stop()
    sys.stdout.write(_replay_summary(source, counts, default))
    if envelopes_elsewhere:
        # --to wins, but the operator should know the router will not re-route them there.
        sys.stderr.write(f"stellwerk replay: {envelopes_elsewhere} envelope(s) written to "
                         f"{explicit}; the router re-routes envelopes only from its replay "
                         f"topic {config.topics.replay}\n")
    return EXIT_OK


# ---- ingest ---------------------------------------------------------------------------
INGEST_BATCH_FILES = 100
INGEST_BATCH_BYTES = 64 * 1024 * 1024
#: Seconds ``ingest --once`` waits, beyond ``--settle``, for the files present at its
#: start to settle; a file still changing then stays in PATH for the next run.
INGEST_ONCE_BOUND = 60.0
#: Bytes of an ingested file read for the UNB receiver IK (UNA + UNB fit easily).
_UNB_HEAD = 4096
_SUBDIRS = ("done", "failed")

#: (size, mtime ns) of a directory entry.
Signature = tuple[int, int]


def ingest_main(args: argparse.Namespace, config: Config) -> int:
    """``stellwerk ingest dir PATH [--topic T] [--once] [--interval S] [--settle S]``.

    The file-drop edge of a transport gateway. Every ``--interval`` seconds PATH is
    listed. Names starting with ``.`` or ending in ``.tmp``/``.part`` are ignored (write
    under such a name, then rename). A file is *ready* once its size and modification
    time stayed unchanged for ``--settle`` seconds (default 2) as observed by this
    process, also on the first scan and with ``--once``: a writer that appends slowly is
    never sent a half-written file. Just before sending, the open file is checked
    against the settled size and mtime again.

    Each ready file is sent as one record to ``--topic`` (default: the configured inbound
    topic): value = the bytes unchanged; key = the receiver IK of the interchange's UNB
    (element 3, first component; none when the file has no UNB or the field is not nine
    digits), so records for one receiver keep their order; header
    ``stellwerk-input-id: sha256:<hex of the bytes>``, so a file sent twice is
    recognisable as a duplicate. The file name is never sent.

    A file is moved to ``PATH/done/`` only after the broker acknowledged it; a name that
    is taken there gets a numeric suffix before the extension (``a.edi`` → ``a.1.edi``).
    An entry that cannot be read (a directory, a broken symbolic link, a FIFO, an
    unreadable or oversized file) goes to ``PATH/failed/`` with ``<name>.reason.txt``;
    a file that vanished is skipped. Delivery is at-least-once: a file stays in PATH until
    acknowledged, so a restart sends it again; if the process dies between the
    acknowledgement and the move the file is sent a second time on restart (same
    ``stellwerk-input-id``; identical content gives identical ids downstream too).

    File names can hold patient names: stderr shows a digest of the name (first 12 hex
    digits of its SHA-256, :func:`name_digest`), the size, partition and offset, never
    the name or the content; done/ and failed/ keep the names on disk. Runs until
    SIGTERM/SIGINT (finishing the current batch first; exit 0) and waits for the broker
    while it is unreachable. ``--once``: send the files present now once they settled
    (waiting at most ``--settle`` + :data:`INGEST_ONCE_BOUND` s; a file still changing
    then stays for the next run) and exit 0 (also when files went to failed/); 2 when the
    broker is unreachable (bounded retry) or did not acknowledge every file, or PATH is
    not a directory.
    """
    if args.ingest_kind != "dir":
        return _fail(f"ingest: unknown kind {args.ingest_kind!r}")
    bootstrap = bootstrap_of(args, config)
    root = Path(args.path)
    if not root.is_dir():
        return _fail(f"ingest: {root} is not a directory")
    if args.interval <= 0:
        return _fail("ingest: --interval must be positive")
    if args.settle < 0:
        return _fail("ingest: --settle must not be negative")
    _quiet(config)
    topic = args.topic or config.topics.inbound
    try:
        return run_async(lambda: _ingest(config, bootstrap, root, topic, args.once,
                                         float(args.interval), float(args.settle)))
    except BrokerUnreachableError as exc:
        return _fail(str(exc))


def name_digest(name: str) -> str:
    """What the logs show instead of a file name (which may hold a patient's name): the
    first 12 hex digits of the SHA-256 of the name's bytes."""
    return hashlib.sha256(os.fsencode(name)).hexdigest()[:12]


def input_id(data: bytes) -> str:
    """The ``stellwerk-input-id`` of an ingested file: ``sha256:<hex of the bytes>``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def receiver_key(data: bytes) -> bytes | None:
    """The receiver IK of the interchange's UNB (element 3, first component) as a record
    key, or None when there is no UNB or the field is not nine digits.

    Only the head of the file is scanned (UNA and UNB come first). Anything that is not
    an IK stays out of the key: a garbage file must not put its content there.
    """
    try:
        ik = scan(data[:_UNB_HEAD]).receiver_ik
    except Exception:  # keying is best effort: a codec failure must not stop the edge
        return None
    return ik.encode() if len(ik) == 9 and ik.isascii() and ik.isdigit() else None


def _ignored(name: str) -> bool:
    return name.startswith(".") or name.endswith((".tmp", ".part"))


def _signature(path: Path) -> Signature | None:
    """(size, mtime ns) of the file (or of the link itself when it is broken)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        try:
            st = path.lstat()
        except FileNotFoundError:
            return None
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class _Seen(msgspec.Struct):
    """A name's signature and since when (monotonic seconds) it has not changed."""

    signature: Signature
    since: float


def _scan(root: Path, previous: dict[str, _Seen], now: float, settle: float
          ) -> tuple[list[str], list[str], dict[str, _Seen]]:
    """Ready names (oldest first), names still settling, and the state seen now.

    Settling is measured with this process's monotonic clock, not from the file's mtime:
    mtimes on network file systems come from another host's clock.
    """
    current: dict[str, _Seen] = {}
    for entry in os.scandir(root):
        name = entry.name
        if _ignored(name) or (name in _SUBDIRS and entry.is_dir(follow_symlinks=False)):
            continue
        sig = _signature(root / name)
        if sig is None:
            continue
        before = previous.get(name)
        current[name] = (before if before is not None and before.signature == sig
                         else _Seen(sig, now))
    ready = [n for n, s in current.items() if now - s.since >= settle]
    ready.sort(key=lambda n: (current[n].signature[1], n))
    settling = [n for n, s in current.items() if now - s.since < settle]
    return ready, settling, current


def _unique(directory: Path, name: str) -> Path:
    """``directory/name``, or with ``.1``, ``.2`` … before the extension if taken."""
    target = directory / name
    if not os.path.lexists(target):
        return target
    base = Path(name)
    stem, ext = (base.stem, base.suffix) if base.stem else (name, "")
    n = 1
    while os.path.lexists(target := directory / f"{stem}.{n}{ext}"):
        n += 1
    return target


class _Ingest:
    """One watched directory: reads, sends, moves. Logs name digests, never names."""

    def __init__(self, producer: Any, root: Path, topic: str) -> None:
        self.producer = producer
        self.root = root
        self.topic = topic
        self.done = root / "done"
        self.failed = root / "failed"
        self.done.mkdir(exist_ok=True)
        self.failed.mkdir(exist_ok=True)
        #: Sent and acknowledged but not moved to done/ (signature then): not sent again
        #: on every poll while unchanged.
        self.stuck: dict[str, Signature] = {}

    def fail(self, name: str, reason: str) -> None:
        target = _unique(self.failed, name)
        Path(f"{target}.reason.txt").write_text(f"{name}: {reason}\n", encoding="utf-8")
        try:
            os.rename(self.root / name, target)
        except FileNotFoundError:  # vanished meanwhile: nothing to keep
            Path(f"{target}.reason.txt").unlink(missing_ok=True)
            return
        log.warning("ingest: file %s → failed/: %s", name_digest(name), reason)

    def read(self, name: str, settled: Signature) -> bytes | None:
        """The file's bytes if it still has the ``settled`` signature; None (after moving
        it to failed/) if it cannot be read, None if it vanished or changed (a writer is
        back: it settles again before it is sent)."""
        path = self.root / name
        try:
            # O_NONBLOCK: opening a FIFO must not hang the edge; no effect on files.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            if os.path.lexists(path):
                self.fail(name, "broken symbolic link")
            return None
        except OSError as exc:
            self.fail(name, f"cannot open: {type(exc).__name__}")
            return None
        # Checked on the open file: what is read is what was checked.
        st = os.fstat(fd)
        problem = ""
        if stat.S_ISDIR(st.st_mode):
            problem = "cannot be sent: a directory"
        elif not stat.S_ISREG(st.st_mode):
            problem = "cannot be sent: not a regular file"
        elif st.st_size > MAX_RECORD_BYTES:
            problem = (f"{st.st_size} bytes, larger than the maximum record size "
                       f"({MAX_RECORD_BYTES})")
        if problem or (st.st_size, st.st_mtime_ns) != settled:
            os.close(fd)
            if problem:
                self.fail(name, problem)
            return None
        try:
            with os.fdopen(fd, "rb") as fh:  # owns fd from here on
                data = fh.read()
                after = os.fstat(fh.fileno())
        except OSError as exc:
            self.fail(name, f"cannot read: {type(exc).__name__}")
            return None
        if len(data) != settled[0] or (after.st_size, after.st_mtime_ns) != settled:
            return None
        return data

    async def ship(self, names: list[str], seen: dict[str, _Seen]) -> int:
        """Send ``names`` in batches; returns how many could not be sent (broker)."""
        undelivered = 0
        i = 0
        while i < len(names):
            batch: list[tuple[str, int, str, asyncio.Future[Any]]] = []
            size = 0
            while i < len(names) and len(batch) < INGEST_BATCH_FILES \
                    and size < INGEST_BATCH_BYTES:
                name = names[i]
                i += 1
                settled = seen[name].signature
                if self.stuck.get(name) == settled:
                    continue
                data = self.read(name, settled)
                if data is None:
                    continue
                ident = input_id(data)
                try:
                    fut = await self.producer.send(
                        self.topic, data, key=receiver_key(data),
                        headers=[(INPUT_ID_HEADER, ident.encode())])
                except MessageSizeTooLargeError:
                    self.fail(name, "larger than the maximum record size")
                    continue
                except KafkaError as exc:
                    log.warning("ingest: file %s not sent (%s); kept for the next poll",
                                name_digest(name), type(exc).__name__)
                    undelivered += 1
                    continue
                batch.append((name, len(data), ident, fut))
                size += len(data)
            results = await asyncio.gather(*(f for *_, f in batch), return_exceptions=True)
            for (name, n, ident, _), res in zip(batch, results, strict=True):
                if isinstance(res, MessageSizeTooLargeError):
                    self.fail(name, "the broker refused it as too large")
                elif isinstance(res, BaseException):
                    log.warning("ingest: file %s not acknowledged (%s); kept for the next "
                                "poll", name_digest(name), type(res).__name__)
                    undelivered += 1
                else:
                    try:
                        os.rename(self.root / name, _unique(self.done, name))
                    except OSError as exc:  # sent, but stays: sent again after a restart
                        self.stuck[name] = seen[name].signature
                        log.error("ingest: file %s sent as %s but not moved to done/ (%s)",
                                  name_digest(name), ident, type(exc).__name__)
                        continue
                    self.stuck.pop(name, None)
                    log.info("ingest: file %s (%d bytes) → %s/%d@%d %s, moved to done/",
                             name_digest(name), n, self.topic, res.partition, res.offset,
                             ident)
        return undelivered


async def _ingest(config: Config, bootstrap: str, root: Path, topic: str, once: bool,
                  interval: float, settle: float) -> int:
    stop = asyncio.Event()
    _install_stop(stop)
    loop = asyncio.get_running_loop()
    producer = _producer(config, bootstrap)
    if not await _start_ingest(producer, "ingest", once, stop):
        return EXIT_OK
    undelivered = 0
    # --once polls often enough to notice a settled file soon, at most every --interval.
    step = min(interval, max(settle / 4, 0.05)) if once else interval
    deadline = loop.time() + settle + INGEST_ONCE_BOUND
    try:
        job = _Ingest(producer, root, topic)
        log.info("ingest: watching %s → %s%s, settle %gs", root, topic,
                 " (once)" if once else f" every {interval:g}s", settle)
        seen: dict[str, _Seen] = {}
        present: set[str] | None = None  # --once: the names there at the first scan
        while not stop.is_set():
            ready, settling, seen = _scan(root, seen, loop.time(), settle)
            shipped = await job.ship(ready, seen) if ready else 0
            if not once:
                undelivered = shipped
            else:
                undelivered += shipped
                if present is None:
                    present = set(ready) | set(settling)
                waiting = [n for n in settling if n in present]
                if not waiting:
                    break
                if loop.time() >= deadline:
                    log.warning("ingest: %d file(s) still changing after %gs; left in %s "
                                "for the next run", len(waiting), settle + INGEST_ONCE_BOUND,
                                root)
                    break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), step)
    finally:
        await producer.stop()
    if undelivered:
        return _fail(f"ingest: {undelivered} file(s) not acknowledged; they stay in {root}")
    return EXIT_OK
