"""``stellwerk top``: a live terminal view of running routers, read from their /metrics.

For an operator at the console: input and output rates per topic, lag per partition,
rejections by code, what was held, quarantined or sent to the DLQ, the KIM pool, and
whether each endpoint is up and ready. Several endpoints (routers, the lag exporter)
are summed. Rates are the difference of two readings ``--interval`` apart.

The core is two pure functions, :func:`parse` (exposition text → samples) and
:func:`render` (two readings → the screen), so the view is tested without a router.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Sequence

import msgspec
from prometheus_client.parser import text_string_to_metric_families

from ..config import Config

__all__ = ["Reading", "endpoint_urls", "parse", "render", "scrape", "top_main"]

Labels = tuple[tuple[str, str], ...]
Samples = dict[tuple[str, Labels], float]


class Reading(msgspec.Struct):
    """Samples of all endpoints at one moment (summed over endpoints)."""

    at: float
    samples: Samples
    up: int
    ready: int
    endpoints: int


def parse(text: str) -> Samples:
    """Samples of one exposition text, keyed by (sample name, sorted labels).

    >>> s = parse('stellwerk_records_in_total{family="s301",topic="s301.inbound"} 7\\n')
    >>> s[("stellwerk_records_in_total", (("family", "s301"), ("topic", "s301.inbound")))]
    7.0
    """
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            out[key] = out.get(key, 0.0) + float(sample.value)
    return out


def endpoint_urls(args: Sequence[str], config: Config) -> list[str]:
    """Full metrics URLs from ``host:port`` or URL arguments (default: localhost)."""
    raw = list(args) or ([f"127.0.0.1:{config.metrics_port}"] if config.metrics_port else [])
    out = []
    for a in raw:
        url = a if "://" in a else f"http://{a}"
        if url.rstrip("/").count("/") < 3:
            url = url.rstrip("/") + "/metrics"
        out.append(url)
    return out


def _get(url: str, timeout: float) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), ""
    except (urllib.error.URLError, OSError, TimeoutError):
        return 0, ""


def scrape(urls: Iterable[str], timeout: float = 2.0) -> Reading:
    """One reading of every endpoint (unreachable ones count as down)."""
    samples: Samples = {}
    up = ready = n = 0
    for url in urls:
        n += 1
        status, text = _get(url, timeout)
        if status != 200:
            continue
        up += 1
        for key, value in parse(text).items():
            samples[key] = samples.get(key, 0.0) + value
        base = url.rsplit("/", 1)[0]
        if _get(base + "/readyz", timeout)[0] == 200:
            ready += 1
    return Reading(time.time(), samples, up, ready, n)


def _by(samples: Samples, name: str, *labels: str) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = defaultdict(float)
    for (sname, lab), value in samples.items():
        if sname == name:
            d = dict(lab)
            out[tuple(d.get(k, "") for k in labels)] += value
    return out


def _quantile(buckets: dict[float, float], q: float) -> float | None:
    """Upper bound of the bucket holding quantile ``q`` (as Prometheus would bound it)."""
    items = sorted(buckets.items())
    if not items or items[-1][1] <= 0:
        return None
    target = q * items[-1][1]
    for bound, count in items:
        if count >= target:
            return bound
    return None


def _hist(samples: Samples, name: str, family: str) -> dict[float, float]:
    out: dict[float, float] = defaultdict(float)
    for (sname, lab), value in samples.items():
        d = dict(lab)
        if sname == f"{name}_bucket" and d.get("family", family) == family:
            out[float(d["le"])] += value
    return out


def _fmt_s(v: float | None) -> str:
    if v is None:
        return "-"
    if v == float("inf"):
        return "> max"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.1f} s"


def render(prev: Reading, cur: Reading) -> str:
    """The screen for two readings (rates over the time between them)."""
    dt_s = max(cur.at - prev.at, 1e-9)
    lines = [f"Stellwerk top — {cur.endpoints} endpoint(s), {cur.up} up, {cur.ready} ready"
             f" — {time.strftime('%H:%M:%S', time.localtime(cur.at))}, rates over "
             f"{dt_s:.1f} s", ""]

    def rate(name: str, *labels: str) -> dict[tuple[str, ...], tuple[float, float]]:
        now, before = _by(cur.samples, name, *labels), _by(prev.samples, name, *labels)
        return {k: (max(0.0, v - before.get(k, 0.0)) / dt_s, v) for k, v in now.items()}

    lines.append(f"{'family':<8}{'in/s':>10}{'in total':>12}{'e2e p50':>10}{'e2e p99':>10}"
                 f"{'lag':>10}")
    ins = rate("stellwerk_records_in_total", "family")
    lag = _by(cur.samples, "stellwerk_consumer_lag", "family")
    for (family,), (r, total) in sorted(ins.items()):
        delta = {b: c - _hist(prev.samples, "stellwerk_end_to_end_seconds", family).get(b, 0)
                 for b, c in _hist(cur.samples, "stellwerk_end_to_end_seconds", family).items()}
        if not any(delta.values()):
            delta = _hist(cur.samples, "stellwerk_end_to_end_seconds", family)
        lines.append(f"{family:<8}{r:>10.1f}{total:>12.0f}{_fmt_s(_quantile(delta, 0.5)):>10}"
                     f"{_fmt_s(_quantile(delta, 0.99)):>10}{lag.get((family,), 0):>10.0f}")
    lines += ["", f"{'output topic':<32}{'kind':<12}{'out/s':>10}{'total':>12}"]
    for (topic, kind), (r, total) in sorted(rate("stellwerk_records_out_total", "topic",
                                                 "kind").items()):
        lines.append(f"{topic[:31]:<32}{kind:<12}{r:>10.1f}{total:>12.0f}")
    codes = rate("stellwerk_validation_errors_total", "family", "code")
    if codes:
        lines += ["", f"{'rejections by code':<32}{'family':<12}{'/s':>10}{'total':>12}"]
        for (family, code), (r, total) in sorted(codes.items(), key=lambda kv: -kv[1][1])[:15]:
            lines.append(f"{code:<32}{family:<12}{r:>10.2f}{total:>12.0f}")
    parts = _by(cur.samples, "stellwerk_consumer_lag", "topic", "partition")
    group_lag = _by(cur.samples, "stellwerk_group_lag", "group", "topic", "partition")
    if parts or group_lag:
        lines += ["", f"{'lag':<40}{'records':>12}"]
        for (topic, part), v in sorted(parts.items()):
            lines.append(f"{'router ' + topic + '/' + part:<40}{v:>12.0f}")
        for (group, topic, part), v in sorted(group_lag.items()):
            lines.append(f"{'group ' + group + ' ' + topic + '/' + part:<40}{v:>12.0f}")
    tables = _by(cur.samples, "stellwerk_table_entries", "table")
    queue = sum(_by(cur.samples, "stellwerk_kim_pool_queue").values())
    workers = sum(_by(cur.samples, "stellwerk_kim_pool_workers").values())
    lines += ["", "held mails (kim.unmatched): {:.0f}   cases: {:.0f}   routes: {:.0f}   "
              "KIM pool: {:.0f} queued / {:.0f} workers".format(
                  tables.get(("held",), 0), tables.get(("cases",), 0),
                  tables.get(("routes",), 0), queue, workers)]
    return "\n".join(lines) + "\n"


def top_main(args: argparse.Namespace, config: Config) -> int:
    """Refresh the view every ``--interval`` seconds until Ctrl-C (or once)."""
    urls = endpoint_urls(args.urls, config)
    if not urls:
        sys.stderr.write("stellwerk top: name a metrics endpoint (host:port) or set "
                         "metrics_port\n")
        return 2
    prev = scrape(urls)
    if not prev.up:
        sys.stderr.write(f"stellwerk top: no endpoint answers ({', '.join(urls)})\n")
        return 1
    tty = sys.stdout.isatty() and not args.once
    try:
        while True:
            time.sleep(args.interval)
            cur = scrape(urls)
            sys.stdout.write(("\x1b[H\x1b[2J" if tty else "") + render(prev, cur))
            sys.stdout.flush()
            if args.once:
                return 0
            prev = cur
    except KeyboardInterrupt:
        return 0
