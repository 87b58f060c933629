"""``/metrics``, ``/healthz``, ``/readyz`` over real HTTP, and the JSON log lines."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import urllib.error
import urllib.request

from prometheus_client import CollectorRegistry

import sgb301
from router.core.stats import Stats
from router.logs import JsonFormatter, configure_logging
from router.metrics import MetricsServer, PrometheusObserver, Readiness


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_endpoints_answer_from_the_event_loop() -> None:
    observer = PrometheusObserver(CollectorRegistry())
    stats = Stats()
    stats.count(("stellwerk_records_in_total", "s301", "s301.inbound"), 5)
    observer.on_batch(stats)
    readiness = Readiness()
    loaded = {"tables": False}
    readiness.add("tables loaded", lambda: loaded["tables"])
    readiness.add("broker reachable", lambda: True)

    async def scenario() -> None:
        server = MetricsServer(observer.registry, readiness, 0, "127.0.0.1")
        port = await server.start()
        base = f"http://127.0.0.1:{port}"
        get = lambda path: asyncio.to_thread(_get, base + path)  # noqa: E731
        try:
            status, _, body = await get("/readyz")
            assert (status, body) == (503, "not ready:\n- tables loaded\n")
            loaded["tables"] = True
            assert (await get("/readyz"))[0::2] == (200, "ready\n")
            assert (await get("/healthz"))[0::2] == (200, "ok\n")
            status, ctype, body = await get("/metrics")
            assert status == 200 and ctype.startswith("text/plain; version=")
            assert ('stellwerk_records_in_total{family="s301",topic="s301.inbound"} 5.0'
                    in body)
            assert "stellwerk_build_info{" in body
            assert f'codec="{"compiled" if sgb301.NATIVE else "pure"}"' in body
            assert (await get("/nothing"))[0] == 404
        finally:
            await server.stop()

    asyncio.run(scenario())


def test_json_log_lines_carry_extras_and_only_the_exception_class() -> None:
    try:
        raise ValueError("Mustermann, Erika 1960-01-01")  # payload in the message
    except ValueError:
        rec = logging.LogRecord("stellwerk.runner", logging.ERROR, "loop.py", 1,
                                "processing failed offset=%d", (42,), sys.exc_info())
    rec.topic = "s301.inbound"
    line = JsonFormatter().format(rec)
    obj = json.loads(line)
    assert obj["msg"] == "processing failed offset=42"
    assert obj["level"] == "ERROR" and obj["logger"] == "stellwerk.runner"
    assert obj["topic"] == "s301.inbound" and obj["exception"] == "ValueError"
    assert "Mustermann" not in line


def test_group_coordinator_joins_logged_but_not_its_partition_lists() -> None:
    """aiokafka's joins and generations reach the log at INFO (a rebalance can be
    followed); its own lists of assigned and revoked partitions do not (the source logs
    them, shorter)."""
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    configure_logging("INFO")
    coordinator = logging.getLogger("aiokafka.consumer.group_coordinator")

    def kept(msg: str) -> bool:
        rec = coordinator.makeRecord(coordinator.name, logging.INFO, "gc.py", 1, msg,
                                     ("x", "g"), None)
        return coordinator.isEnabledFor(logging.INFO) and coordinator.filter(rec)

    assert kept("(Re-)joining group %s%s")
    assert not kept("Setting newly assigned partitions %s for group %s")
    assert not kept("Revoking previously assigned partitions %s for group %s")
    configure_logging("INFO")  # twice: still one filter
    echoes = sum(1 for f in coordinator.filters if type(f).__name__ == "_AssignmentEcho")
    root.handlers[:] = before[0]  # this test's stderr handler goes again
    root.setLevel(before[1])
    assert echoes == 1
