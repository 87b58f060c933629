"""``stellwerk run --workers N``: one consumer group, one metrics port each, clean stops."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kafka_helpers import TopicSet, produce
from prometheus_client.parser import text_string_to_metric_families
from traffic import assert_no_health_data

from router.kafka.broker import EmbeddedBroker, free_port
from sgb301.examples import load

pytestmark = pytest.mark.slow


def _metrics(port: int) -> dict[str, list[tuple[dict[str, str], float]]] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as resp:
            text = resp.read().decode()
    except (urllib.error.URLError, OSError):
        return None
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=3) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][:1] != "Z"


async def _until(what: str, check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        await asyncio.sleep(0.3)


class Workers:
    """``stellwerk run --workers N`` as a real process, its log in a file."""

    def __init__(self, bootstrap: str, env: dict[str, str], n: int, log: Path) -> None:
        self.port = free_port()
        while self.port + n > 65535 or not all(_free(self.port + i) for i in range(n)):
            self.port = free_port()
        self.log_path = log
        full = {k: v for k, v in os.environ.items() if not k.startswith("STELLWERK_")}
        full.update(env)
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "router.cli", "run", "--bootstrap", bootstrap,
                 "--workers", str(n), "--metrics-port", str(self.port)],
                env=full, stdout=subprocess.DEVNULL, stderr=f, stdin=subprocess.DEVNULL,
                start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pids(self) -> list[int]:
        m = re.search(r"started \d+ workers \(pids ([\d, ]+)\)", self.log())
        return [int(p) for p in m.group(1).split(", ")] if m else []

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in self.pids():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_two_workers_share_the_group_and_stop_cleanly(broker: EmbeddedBroker,
                                                      tmp_path: Path) -> None:
    ts = TopicSet.unique("workers")
    w = Workers(broker.bootstrap, ts.env(), 2, tmp_path / "workers.log")

    async def scenario() -> None:
        ports = (w.port, w.port + 1)
        await _until("both workers ready", lambda: all(_ready(p) for p in ports), 90)
        await produce(broker.bootstrap, ts.inbound, list(load().values()))

        def processed() -> float:
            total = 0.0
            for p in ports:
                m = _metrics(p) or {}
                total += sum(v for labels, v in m.get("stellwerk_records_in_total", [])
                             if labels.get("topic") == ts.inbound)
            return total

        await _until("all 8 records processed by the two workers", lambda: processed() == 8,
                     60)
        # one group: each worker reports the lag of its own partitions, together all six
        def partitions(port: int) -> set[str]:
            m = _metrics(port) or {}
            return {f"{lab['topic']}/{lab['partition']}"
                    for lab, _ in m.get("stellwerk_consumer_lag", [])}

        await _until("the partitions split between the workers", lambda: (
            partitions(ports[0]) and partitions(ports[1])
            and not partitions(ports[0]) & partitions(ports[1])
            and len(partitions(ports[0]) | partitions(ports[1])) == 6), 60)

    try:
        asyncio.run(scenario())
        pids = w.pids()
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        started = time.monotonic()
        w.proc.send_signal(signal.SIGTERM)
        assert w.proc.wait(timeout=15) == 0
        assert time.monotonic() - started < 12
        assert not any(_alive(p) for p in pids), "a worker outlived the parent"
        assert "stopped after" in w.log()
        assert_no_health_data(w.log(), "workers.log")
    finally:
        w.close()


def test_a_dying_worker_stops_the_set_and_a_killed_parent_leaves_no_orphans(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    ts = TopicSet.unique("workers2")
    w = Workers(broker.bootstrap, ts.env(), 2, tmp_path / "a.log")
    try:
        asyncio.run(_until("two workers", lambda: len(w.pids()) == 2, 60))
        first, second = w.pids()
        os.kill(first, signal.SIGKILL)
        assert w.proc.wait(timeout=20) == 1
        assert f"worker 0 (pid {first}) exited with -9" in w.log()
        assert not _alive(second)
    finally:
        w.close()

    v = Workers(broker.bootstrap, ts.env(), 2, tmp_path / "b.log")
    try:
        asyncio.run(_until("two workers", lambda: len(v.pids()) == 2, 60))
        pids = v.pids()
        v.proc.kill()  # SIGKILL: no chance to pass anything on
        v.proc.wait()
        asyncio.run(_until("workers gone after their parent", lambda: not any(
            _alive(p) for p in pids), 15))
    finally:
        v.close()
