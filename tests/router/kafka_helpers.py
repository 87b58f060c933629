"""Kafka and router-process utilities for the integration tests (real broker, real processes).

* :class:`TopicSet` — one test's own topic names and group id, and the ``STELLWERK_…``
  environment that points a router at them;
* :func:`create_topics`, :func:`produce` — set up topics, send records (all
  acknowledgements gathered once);
* :class:`TopicReader` — read whole topics from the beginning without a consumer group,
  incrementally, and wait until the records seen satisfy a condition;
* :func:`committed` — what a consumer group has committed;
* :class:`RouterProcess` — ``python -m router.cli run`` as a subprocess with its stderr in
  a file, signals, exit codes and log waits.

Everything async; tests drive a scenario with ``asyncio.run``.

>>> TopicSet.unique("doc", group="g").env()["STELLWERK_GROUP_ID"]
'g'
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from router.blobstore import DirBlobStore

__all__ = [
    "Rec",
    "RouterFactory",
    "RouterProcess",
    "ToSend",
    "TopicReader",
    "TopicSet",
    "committed",
    "create_topics",
    "end_offsets",
    "produce",
]

MAX_BYTES = 16 * 1024 * 1024  # as the router: KIM mails reach 15 MiB


# ---- topics ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TopicSet:
    """The topics and the consumer group of one test (unique names on the shared broker)."""

    inbound: str
    replies: str
    rejected: str
    unroutable: str
    test: str
    dlq: str
    routes: str
    group: str
    suffix: str
    replay: str = "stellwerk.replay"

    @classmethod
    def unique(cls, tag: str, group: str | None = None) -> TopicSet:
        """Fresh names ``<default name>.<tag>.<random>`` and group ``g.<tag>.<random>``."""
        s = f"{tag}.{uuid.uuid4().hex[:8]}"
        return cls(inbound=f"s301.inbound.{s}", replies=f"s301.replies.{s}",
                   rejected=f"s301.rejected.{s}", unroutable=f"s301.unroutable.{s}",
                   test=f"s301.test.{s}", dlq=f"stellwerk.dlq.{s}",
                   routes=f"stellwerk.routes.{s}", group=group or f"g.{s}", suffix=s,
                   replay=f"stellwerk.replay.{s}")

    @property
    def blob_dir(self) -> Path:
        """This test's claim-check blob store (a directory under the system temp dir)."""
        return Path(tempfile.gettempdir()) / f"stellwerk-blobs.{self.suffix}"

    def carrier(self, name: str) -> str:
        """A carrier topic name belonging to this test."""
        return f"uv.{name}.{self.suffix}"

    def env(self, *, routes: Mapping[str, str] | None = None, partitions: int = 3,
            batch_max: int | None = None, **extra: str) -> dict[str, str]:
        """``STELLWERK_…`` variables for a router on these topics."""
        env = {
            "STELLWERK_GROUP_ID": self.group,
            "STELLWERK_TOPICS_INBOUND": self.inbound,
            "STELLWERK_TOPICS_REPLIES": self.replies,
            "STELLWERK_TOPICS_REJECTED": self.rejected,
            "STELLWERK_TOPICS_UNROUTABLE": self.unroutable,
            "STELLWERK_TOPICS_TEST": self.test,
            "STELLWERK_TOPICS_DLQ": self.dlq,
            "STELLWERK_TOPICS_ROUTES": self.routes,
            "STELLWERK_TOPICS_REPLAY": self.replay,
            "STELLWERK_LIMITS_BLOB_DIR": str(self.blob_dir),
            "STELLWERK_TOPICS_PARTITIONS": str(partitions),
            "STELLWERK_ROUTES": msgspec.json.encode(dict(routes or {})).decode(),
            # §301 scenarios run without the KIM family: its topics are shared by every
            # test on the broker and its group would show up in assignment() checks.
            "STELLWERK_KIM_ENABLED": "false",
            # Joins and failovers in seconds, not tens of seconds (the embedded broker holds
            # a first join for half the session timeout); still twice the longest freeze.
            "STELLWERK_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "STELLWERK_KAFKA_HEARTBEAT_INTERVAL_MS": "2000",
        }
        if batch_max is not None:
            env["STELLWERK_BATCH_MAX"] = str(batch_max)
        env.update(extra)
        return env

    def kinds(self, carriers: Iterable[str] = ()) -> dict[str, str]:
        """Terminal topic → kind (``routed`` for every carrier topic given)."""
        out = {self.rejected: "rejected", self.unroutable: "unroutable", self.test: "test",
               self.dlq: "dlq"}
        out.update(dict.fromkeys(carriers, "routed"))
        return out


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int) -> None:
    """Create the missing topics among ``names`` with ``partitions`` partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [NewTopic(n, partitions, 1) for n in dict.fromkeys(names) if n not in existing]
        if wanted:
            await admin.create_topics(wanted)
    finally:
        await admin.close()


# ---- produce --------------------------------------------------------------------------
@dataclass(frozen=True)
class ToSend:
    """One record to produce; ``value`` None is a Kafka null value."""

    value: bytes | None
    key: bytes | None = None
    partition: int | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


async def produce(bootstrap: str, topic: str, records: Iterable[ToSend | bytes]) -> list[Any]:
    """Send every record (in order), then await all acknowledgements; their metadata."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2,
                                max_request_size=MAX_BYTES)
    await producer.start()
    try:
        futures = []
        for r in records:
            rec = r if isinstance(r, ToSend) else ToSend(r)
            futures.append(await producer.send(topic, rec.value, key=rec.key,
                                               partition=rec.partition,
                                               headers=list(rec.headers) or None))
        return list(await asyncio.gather(*futures))
    finally:
        await producer.stop()


# ---- consume --------------------------------------------------------------------------
@dataclass(frozen=True)
class Rec:
    """One consumed record, headers as a dict."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes] = field(default_factory=dict)

    @property
    def id(self) -> str | None:
        """The ``stellwerk-id`` header."""
        raw = self.headers.get("stellwerk-id")
        return raw.decode() if raw is not None else None

    def payload(self, blob_dir: Path) -> bytes:
        """The value, or the claim-checked bytes its ``stellwerk-blob`` header names."""
        ref = self.headers.get("stellwerk-blob")
        if ref is None:
            return self.value or b""
        return DirBlobStore(blob_dir).get(ref.decode())

    def envelope(self) -> dict[str, Any]:
        """The JSON envelope of a message record."""
        assert self.value is not None
        out: dict[str, Any] = msgspec.json.decode(self.value)
        return out


class TopicReader:
    """Reads whole topics from offset 0, incrementally, without a consumer group.

    Topics that do not exist yet are skipped (and not auto-created); they are picked up
    by a later :meth:`read` once they exist. "The end" is the high watermark of the fetch
    responses: the embedded Tansu broker answers ListOffsets(latest) with the base offset
    of the last batch + 1, not with the high watermark, so ``end_offsets`` cannot be used.
    """

    def __init__(self, bootstrap: str, topics: Iterable[str]) -> None:
        self.bootstrap = bootstrap
        self.topics = list(dict.fromkeys(topics))
        self.records: list[Rec] = []
        self._next: dict[TopicPartition, int] = {}
        self._assigned: set[TopicPartition] = set()
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> TopicReader:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False,
            auto_offset_reset="earliest", max_partition_fetch_bytes=MAX_BYTES,
            fetch_max_bytes=4 * MAX_BYTES, fetch_max_wait_ms=100)
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def _partitions(self) -> list[TopicPartition]:
        assert self._consumer is not None
        # ``consumer.topics()`` fetches fresh metadata but does not store it: the
        # consumer's own cluster view would never learn topics created after the start.
        cluster = await self._consumer._client.fetch_all_metadata()
        existing = cluster.topics()
        tps: list[TopicPartition] = []
        for t in self.topics:
            if t in existing:
                parts = cluster.partitions_for_topic(t) or set()
                tps.extend(TopicPartition(t, p) for p in sorted(parts))
        return tps

    async def read(self, timeout: float = 30.0, settle: float | None = None) -> list[Rec]:
        """Everything up to the high watermarks seen now; all records read so far.

        ``settle``: after a broker was killed mid-produce, Tansu can report a high
        watermark past records it never serves (the unacknowledged tail); return what
        was read once nothing moved for ``settle`` seconds instead of timing out, and
        let the caller's assertions judge it."""
        c = self._consumer
        assert c is not None, "use 'async with TopicReader(...)'"
        tps = await self._partitions()
        if not tps:
            return list(self.records)
        if set(tps) != self._assigned:
            c.assign(tps)
            self._assigned = set(tps)
            for tp in tps:
                c.seek(tp, self._next.get(tp, 0))
        deadline = time.monotonic() + timeout
        moved = time.monotonic()
        while True:
            batches = await c.getmany(timeout_ms=100)
            for tp, recs in batches.items():
                self.records.extend(
                    Rec(tp.topic, tp.partition, r.offset, r.key, r.value,
                        {k: bytes(v) for k, v in (r.headers or ())}) for r in recs)
            if batches:
                moved = time.monotonic()
            elif settle is not None and time.monotonic() - moved > settle:
                print(f"read settled: nothing readable for {settle:.0f}s past "
                      f"{sorted(f'{tp.topic}/{tp.partition}@{self._next.get(tp)}' for tp in tps)}")
                return list(self.records)
            behind: list[str] = []
            for tp in tps:
                pos = self._next[tp] = await c.position(tp)
                high = c.highwater(tp)
                if high is None or pos < high:
                    behind.append(f"{tp.topic}/{tp.partition} at {pos} of {high}")
            if not behind and not batches:
                return list(self.records)
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {self.topics} up to the end: "
                                   f"{', '.join(behind)}")

    async def wait_for(self, condition: Callable[[list[Rec]], bool], timeout: float,
                       what: str = "condition", interval: float = 0.3) -> list[Rec]:
        """Read until ``condition(records)`` holds; AssertionError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            recs = await self.read()
            if condition(recs):
                return recs
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} "
                                     f"({len(recs)} records read)")
            await asyncio.sleep(interval)

    def by_topic(self, topic: str) -> list[Rec]:
        """Records read so far from ``topic``, in (partition, offset) order."""
        return sorted((r for r in self.records if r.topic == topic),
                      key=lambda r: (r.partition, r.offset))


async def end_offsets(bootstrap: str, topic: str, timeout: float = 15.0) -> dict[int, int]:
    """Partition → end offset (high watermark) of ``topic``.

    Taken from fetch responses: Tansu's ListOffsets(latest) answers the base offset of
    the last batch + 1. Fetching from that offset - 1 returns the true high watermark.
    """
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                         fetch_max_wait_ms=100, max_partition_fetch_bytes=MAX_BYTES,
                         fetch_max_bytes=4 * MAX_BYTES)
    await c.start()
    try:
        await c.topics()
        tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
        if not tps:
            return {}
        listed = await c.end_offsets(tps)
        c.assign(tps)
        for tp in tps:
            c.seek(tp, max(listed[tp] - 1, 0))
        deadline = time.monotonic() + timeout
        while any(c.highwater(tp) is None for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no high watermark for {topic}")
            await c.getmany(timeout_ms=100)
        return {tp.partition: int(c.highwater(tp)) for tp in tps}
    finally:
        await c.stop()


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int | None]:
    """Partition → offset committed by ``group`` on ``topic`` (None: nothing committed).

    Uses a consumer of the group that never subscribes, so it does not join or disturb
    the group (``AIOKafkaAdminClient.list_consumer_group_offsets`` cannot parse Tansu's
    answer).
    """
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                         enable_auto_commit=False)
    await c.start()
    try:
        await c.topics()
        parts = sorted(c.partitions_for_topic(topic) or ())
        return {p: await c.committed(TopicPartition(topic, p)) for p in parts}
    finally:
        await c.stop()


# ---- the router as a process ------------------------------------------------------------
#: ``routers(env, bootstrap, name)`` of the ``routers`` fixture (tests/router/conftest.py).
RouterFactory = Callable[..., "RouterProcess"]

_ASSIGNED = re.compile(r"partitions assigned: \[(.*)\]")


class RouterProcess:
    """``python -m router.cli run --bootstrap …`` with a given ``STELLWERK_…`` environment.

    stderr (the router's log) goes to ``log_path``; inherited ``STELLWERK_…`` variables are
    dropped so that only ``env`` configures the router.
    """

    def __init__(self, bootstrap: str, env: Mapping[str, str], log_path: Path,
                 args: Sequence[str] = ()) -> None:
        self.bootstrap = bootstrap
        self.env = dict(env)
        self.log_path = log_path
        self.args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> RouterProcess:
        """Start the process (returns at once)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("STELLWERK_")}
        env.update(self.env)
        env["PYTHONUNBUFFERED"] = "1"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "router.cli", "run", "--bootstrap", self.bootstrap,
                 *self.args],
                env=env, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL,
                start_new_session=True)
        self.started_at = time.monotonic()
        return self

    @property
    def pid(self) -> int:
        """Process id."""
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        """Everything the process logged so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the log, for failure messages."""
        return "\n".join(self.log().splitlines()[-lines:])

    def running(self) -> bool:
        """True while the process lives."""
        return self.proc is not None and self.proc.poll() is None

    async def wait_log(self, pattern: str, timeout: float, count: int = 1,
                       interval: float = 0.1) -> str:
        """Wait until ``pattern`` (regex) matched ``count`` times; the log then."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            if len(rx.findall(text)) >= count:
                return text
            if not self.running():
                raise AssertionError(f"router exited ({self.proc and self.proc.returncode}) "
                                     f"before logging {pattern!r}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"router did not log {pattern!r} within {timeout:.0f}s:"
                                     f"\n{self.log_tail()}")
            await asyncio.sleep(interval)

    def assignment(self) -> set[str]:
        """The partitions of the last ``partitions assigned`` line (``topic/partition``)."""
        found = _ASSIGNED.findall(self.log())
        if not found:
            return set()
        return {p.strip().strip("'") for p in found[-1].split(",") if p.strip()}

    async def wait_assigned(self, timeout: float = 45.0) -> set[str]:
        """Wait for a non-empty assignment; the partitions."""
        deadline = time.monotonic() + timeout
        while not self.assignment():
            if not self.running():
                raise AssertionError(f"router exited before being assigned partitions:\n"
                                     f"{self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"router not assigned partitions within {timeout:.0f}s:"
                                     f"\n{self.log_tail()}")
            await asyncio.sleep(0.1)
        return self.assignment()

    def send_signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the router process (not its group)."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait_exit(self, timeout: float) -> int | None:
        """Exit code, or None if still running after ``timeout`` s."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.05)
        return self.proc.returncode

    def kill(self) -> int:
        """SIGKILL and reap; the exit code (-9)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait(timeout=10)

    def close(self) -> None:
        """Make sure the process is gone (SIGTERM, then SIGKILL)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
            return
        self.kill()
