"""A real Prometheus scrapes a real router and the lag exporter on the embedded broker.

Known traffic in, then through Prometheus' HTTP API: the series exist and their counts are
what the pure pipeline says the inputs produce; then the alert rules of
``deploy/prometheus/alerts.yml`` (time windows shortened for the test) are evaluated by
that Prometheus, and the stall alert fires once the router is frozen with SIGSTOP while
input waits.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka_helpers import RouterFactory, TopicSet, produce
from prometheus_client.parser import text_string_to_metric_families

from router.config import load_config
from router.core.records import InRecord
from router.families import build_pipeline
from router.kafka.broker import EmbeddedBroker, free_port
from router.metrics import exported_names
from sgb301.examples import load

pytestmark = pytest.mark.slow

ALERTS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"


def _get(url: str, timeout: float = 3.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except (urllib.error.URLError, OSError, TimeoutError):
        return 0, b""


async def _until(what: str, check: object, timeout: float, every: float = 0.5) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = check()  # type: ignore[operator]
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:.0f}s (last: {last!r})")


def shortened_rules(text: str) -> str:
    """The alert rules with minutes turned into seconds: ``for: 2m`` → ``for: 2s``,
    ``[5m]`` → ``[10s]`` (two scrapes a second apart fit any window)."""
    text = re.sub(r"for: (\d+)m", r"for: \1s", text)
    return re.sub(r"\[(\d+)m\]", lambda m: f"[{2 * int(m.group(1))}s]", text)


class Prometheus:
    """``prometheus`` (Debian package) on a free port, scraping every second."""

    def __init__(self, workdir: Path, targets: dict[str, str], rules: str) -> None:
        self.port = free_port()
        self.workdir = workdir
        (workdir / "rules.yml").write_text(rules)
        jobs = "".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
            for job, target in targets.items())
        (workdir / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 800ms\n"
            "  evaluation_interval: 1s\nrule_files:\n  - rules.yml\nscrape_configs:\n" + jobs)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Prometheus:
        binary = shutil.which("prometheus")
        assert binary, "Debian package prometheus is not installed (make system-deps)"
        log = open(self.workdir / "prometheus.log", "wb")  # noqa: SIM115 - lives with proc
        self.proc = subprocess.Popen(
            [binary, f"--config.file={self.workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        return self

    def api(self, path: str, **params: str) -> object:
        status, body = _get(f"http://127.0.0.1:{self.port}/api/v1/{path}?"
                            + urllib.parse.urlencode(params))
        assert status == 200, f"prometheus {path}: HTTP {status}"
        return json.loads(body)["data"]

    def query(self, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
        """Instant query: labels (without __name__, job, instance) → value."""
        data = self.api("query", query=expr)
        assert isinstance(data, dict)
        out = {}
        for r in data["result"]:
            labels = tuple(sorted((k, v) for k, v in r["metric"].items()
                                  if k not in ("__name__", "job", "instance")))
            out[labels] = float(r["value"][1])
        return out

    def firing(self, alertname: str) -> list[dict[str, str]]:
        data = self.api("alerts")
        assert isinstance(data, dict)
        return [a["labels"] for a in data["alerts"]
                if a["labels"]["alertname"] == alertname and a["state"] == "firing"]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[list[Prometheus]]:
    made: list[Prometheus] = []
    yield made
    for p in made:
        p.stop()
        print((p.workdir / "prometheus.log").read_text(errors="replace")[-3000:])


def _expected(inputs: list[bytes], env: dict[str, str]) -> Counter[tuple[str, str]]:
    """(topic, kind) → records, from the pure pipeline on the same inputs."""
    pipeline = build_pipeline(load_config(None, env=env))
    out: Counter[tuple[str, str]] = Counter()
    for i, value in enumerate(inputs):
        for o in pipeline.process(InRecord(env["STELLWERK_TOPICS_INBOUND"], 0, i, None,
                                           value, 1)):
            out[(o.topic, o.kind)] += 1
    return out


def test_prometheus_scrapes_router_and_stall_alert_fires_when_frozen(
        broker: EmbeddedBroker, routers: RouterFactory, tmp_path: Path,
        prometheus_factory: list[Prometheus]) -> None:
    asyncio.run(_scenario(broker, routers, tmp_path, prometheus_factory))


async def _scenario(broker: EmbeddedBroker, routers: RouterFactory, tmp_path: Path,
                    prometheus_factory: list[Prometheus]) -> None:
    ts = TopicSet.unique("prom")
    env = ts.env(STELLWERK_METRICS_SAMPLE="1")  # every record timed: exact counts below
    inputs = [*load().values(), b"garbage, not an interchange"]
    expected = _expected(inputs, env)

    router_port, lag_port = free_port(), free_port()
    router = routers(env, broker.bootstrap, "router", ("--metrics-port", str(router_port)))
    lag_log = open(tmp_path / "lag.log", "wb")  # noqa: SIM115 - closed below
    exporter = subprocess.Popen(
        [sys.executable, "-m", "router.cli", "lag-exporter", "--bootstrap", broker.bootstrap,
         "--metrics-port", str(lag_port), "--interval", "1"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("STELLWERK_")},
             **env},
        stdout=subprocess.DEVNULL, stderr=lag_log, stdin=subprocess.DEVNULL)
    prom = Prometheus(tmp_path, {"stellwerk": f"127.0.0.1:{router_port}",
                                 "stellwerk-lag": f"127.0.0.1:{lag_port}"},
                      shortened_rules(ALERTS.read_text()))
    prometheus_factory.append(prom.start())
    try:
        await _until("router ready",
                     lambda: _get(f"http://127.0.0.1:{router_port}/readyz")[0] == 200, 60)
        await _until("prometheus ready",
                     lambda: _get(f"http://127.0.0.1:{prom.port}/-/ready")[0] == 200, 30)
        await produce(broker.bootstrap, ts.inbound, inputs)

        # ---- the counts, through Prometheus ------------------------------------------
        await _until("all records counted by prometheus", lambda: prom.query(
            'sum(stellwerk_records_in_total{job="stellwerk"})') == {(): len(inputs)}, 60)
        out = prom.query("sum by (topic, kind) (stellwerk_records_out_total)")
        got = {(dict(k)["topic"], dict(k)["kind"]): v for k, v in out.items()}
        assert got == {k: float(n) for k, n in expected.items()}
        messages = prom.query('sum by (type, verdict) (stellwerk_messages_total'
                              '{family="s301"})')
        assert sum(messages.values()) == 8
        assert messages[(("type", "RECH"), ("verdict", "rejected"))] == 2
        assert prom.query('stellwerk_validation_errors_total{code="1SW18"}') == {
            (("code", "1SW18"), ("family", "s301")): 2.0}
        assert prom.query("sum(stellwerk_parse_decode_seconds_count)") == {(): 8.0}
        assert prom.query("sum(stellwerk_parse_path_total)") == {(): 8.0}
        assert prom.query("sum(stellwerk_end_to_end_seconds_count)") == {(): len(inputs)}
        assert prom.query("stellwerk_ready") == {(): 1.0}
        lag = prom.query(f'stellwerk_consumer_lag{{topic="{ts.inbound}"}}')
        assert len(lag) == 3 and set(lag.values()) == {0.0}
        group_lag = f'stellwerk_group_lag{{topic="{ts.inbound}"}}'
        try:
            await _until("group lag 0 seen by the exporter",
                         lambda: set(prom.query(group_lag).values()) == {0.0}, 60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; lag {prom.query(group_lag)}, committed "
                                 f"{prom.query('stellwerk_group_committed_offset')}, end "
                                 f"{prom.query('stellwerk_group_end_offset')}") from None
        for job in ("stellwerk", "stellwerk-lag"):
            assert prom.query(f'count(stellwerk_build_info{{job="{job}"}})') == {(): 1.0}

        # every series the router exports is in the catalogue; no personal data in labels
        status, text = _get(f"http://127.0.0.1:{router_port}/metrics")
        assert status == 200
        names = {s.name for f in text_string_to_metric_families(text.decode())
                 for s in f.samples}
        assert names <= exported_names(), names - exported_names()
        for private in ("260510223", "1234567", "Mustermann"):
            assert private not in text.decode()

        # the operator's view of the same endpoints
        assert _get(f"http://127.0.0.1:{router_port}/healthz")[0] == 200
        top = subprocess.run(
            [sys.executable, "-m", "router.cli", "top", "--once", "--interval", "0.5",
             f"127.0.0.1:{router_port}", f"127.0.0.1:{lag_port}"],
            capture_output=True, text=True, timeout=60, check=False)
        assert top.returncode == 0, top.stderr
        assert "2 endpoint(s), 2 up, 2 ready" in top.stdout
        assert re.search(rf"s301\s+0\.0\s+{len(inputs)}\s", top.stdout), top.stdout
        assert re.search(rf"{re.escape(ts.rejected)}\s+rejected\s+0\.0\s+2", top.stdout)
        assert re.search(r"1SW18\s+s301\s+0\.00\s+2", top.stdout), top.stdout
        assert f"group {ts.group} {ts.inbound}/0" in top.stdout

        # ---- the stall alert: router frozen, input waiting -----------------------------
        await _until("no stall while healthy", lambda: not prom.firing("StellwerkStalled"),
                     30)
        router.send_signal(signal.SIGSTOP)
        try:
            await produce(broker.bootstrap, ts.inbound, inputs[:3])
            firing = await _until("stall alert firing",
                                  lambda: prom.firing("StellwerkStalled"), 90, 1.0)
            assert isinstance(firing, list)
            assert {(a["group"], a["topic"]) for a in firing} == {(ts.group, ts.inbound)}
            down = await _until("router-down alert firing",
                                lambda: prom.firing("StellwerkRouterDown"), 30, 1.0)
            assert down
        finally:
            router.send_signal(signal.SIGCONT)
        # the router catches up after the freeze; nothing was lost
        await _until("the waiting input processed", lambda: prom.query(
            'sum(stellwerk_records_in_total{job="stellwerk"})') == {(): len(inputs) + 3}, 90)
    finally:
        exporter.terminate()
        exporter.wait(timeout=10)
        lag_log.close()
        print((tmp_path / "lag.log").read_text(errors="replace")[-2000:])


def _lag_series(port: int) -> set[str]:
    status, body = _get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    return {f"{s.labels['topic']}/{s.labels['partition']}"
            for f in text_string_to_metric_families(body.decode()) for s in f.samples
            if s.name == "stellwerk_consumer_lag"}


def test_lag_series_follow_the_assignment(broker: EmbeddedBroker,
                                          routers: RouterFactory) -> None:
    """A revoked partition's lag series disappears from the router that lost it."""
    ts = TopicSet.unique("lagrevoke")
    env = ts.env()

    async def scenario() -> None:
        port_a, port_b = free_port(), free_port()
        a = routers(env, broker.bootstrap, "a", ("--metrics-port", str(port_a)))
        await a.wait_assigned()
        await produce(broker.bootstrap, ts.inbound, list(load().values()))
        everything = {f"{t}/{p}" for t in (ts.inbound, ts.replay) for p in range(3)}
        await _until("all six partitions reported by a",
                     lambda: _lag_series(port_a) == everything, 30)
        b = routers(env, broker.bootstrap, "b", ("--metrics-port", str(port_b),
                                                 "--log-format", "json"))
        await b.wait_assigned(60)
        await _until("a's series shrink to its new assignment",
                     lambda: _lag_series(port_a) == a.assignment(), 60)
        mine_a, mine_b = a.assignment(), b.assignment()
        assert mine_a and mine_b and not mine_a & mine_b
        await _until("b reports its partitions", lambda: _lag_series(port_b) == mine_b, 30)
        # b logs JSON objects, one per line
        lines = [ln for ln in b.log().splitlines() if ln.strip()]
        assert lines and all(json.loads(ln)["logger"].startswith(("stellwerk", "aiokafka"))
                             for ln in lines)

    asyncio.run(scenario())
