"""``stellwerk top``: parsing the exposition text and the screen from two readings."""

from __future__ import annotations

from router.cli.top import Reading, endpoint_urls, parse, render
from router.config import load_config

BEFORE = """\
stellwerk_records_in_total{family="s301",topic="s301.inbound"} 100
stellwerk_records_out_total{family="s301",topic="uv.bghw",kind="routed"} 90
stellwerk_records_out_total{family="s301",topic="s301.rejected",kind="rejected"} 10
stellwerk_validation_errors_total{family="s301",code="34U05"} 10
stellwerk_end_to_end_seconds_bucket{family="s301",le="0.1"} 50
stellwerk_end_to_end_seconds_bucket{family="s301",le="1.0"} 100
stellwerk_end_to_end_seconds_bucket{family="s301",le="+Inf"} 100
stellwerk_consumer_lag{family="s301",topic="s301.inbound",partition="0"} 3
stellwerk_table_entries{table="held"} 2
"""
AFTER = BEFORE.replace("} 100\n", "} 300\n", 1).replace(
    'kind="routed"} 90', 'kind="routed"} 270').replace(
    'kind="rejected"} 10', 'kind="rejected"} 30').replace(
    'code="34U05"} 10', 'code="34U05"} 30').replace(
    'le="1.0"} 100', 'le="1.0"} 300').replace('le="+Inf"} 100', 'le="+Inf"} 300')


def test_render_shows_rates_totals_latency_lag_and_held_mails() -> None:
    screen = render(Reading(0.0, parse(BEFORE), 1, 1, 1), Reading(10.0, parse(AFTER), 1, 1, 1))
    lines = screen.splitlines()
    family = next(ln for ln in lines if ln.startswith("s301 "))
    # 200 records in 10 s; all of the new ones between 0.1 and 1 s; lag 3
    assert family.split() == ["s301", "20.0", "300", "1.0", "s", "1.0", "s", "3"]
    routed = next(ln for ln in lines if ln.startswith("uv.bghw"))
    assert routed.split() == ["uv.bghw", "routed", "18.0", "270"]
    code = next(ln for ln in lines if ln.startswith("34U05"))
    assert code.split() == ["34U05", "s301", "2.00", "30"]
    assert "held mails (kim.unmatched): 2" in screen
    assert "1 endpoint(s), 1 up, 1 ready" in screen


def test_endpoint_urls() -> None:
    cfg = load_config(None, env={"STELLWERK_METRICS_PORT": "9108"})
    assert endpoint_urls([], cfg) == ["http://127.0.0.1:9108/metrics"]
    assert endpoint_urls(["r1:9", "http://r2:9/metrics"], cfg) == [
        "http://r1:9/metrics", "http://r2:9/metrics"]
