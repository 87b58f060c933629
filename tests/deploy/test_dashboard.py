"""The Grafana dashboard (``deploy/grafana``) against its generator and the metric catalogue.

* the committed ``stellwerk.json`` is exactly what ``dashboard.py`` writes (no drift);
* every PromQL expression names only metrics from ``router.metrics.catalogue``
  (``exported_names()``), and nothing else is left but PromQL functions and keywords;
* every label in ``by``/``without``/``on``/``ignoring`` clauses and in selectors exists
  on the metric per the catalogue (plus ``le`` on buckets and the scrape's ``job`` and
  ``instance``);
* the JSON is a well-formed Grafana dashboard: it survives a round trip through the
  Grafana Foundation SDK's typed models unchanged, has a schemaVersion, unique panel ids
  and a non-overlapping gridPos on every panel.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard
from promql import _SAMPLE_SPECS, GRAFANA_VARIABLES, labels_of, problems, scan

from router.metrics.catalogue import SPECS, exported_names

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "deploy" / "grafana" / "dashboard.py"
COMMITTED = ROOT / "deploy" / "grafana" / "stellwerk.json"

# ---- the dashboard --------------------------------------------------------------------


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stellwerk_grafana_dashboard", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def board() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(COMMITTED.read_text(encoding="utf-8"))
    return data


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows and the panels inside collapsed rows included."""
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels") or ()


def exprs(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, PromQL) of every panel target and annotation query."""
    out = [(p.get("title", ""), t["expr"]) for p in panels(board)
           for t in p.get("targets") or () if "expr" in t]
    out += [(f"annotation {a['name']}", a["expr"])
            for a in board.get("annotations", {}).get("list", ()) if "expr" in a]
    return out


def variable_queries(board: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(variable, metric, label) of every ``label_values(metric, label)`` variable."""
    out = []
    for var in board["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = re.fullmatch(r"label_values\(\s*([\w:]+)\s*,\s*(\w+)\s*\)", query)
        assert m, f"variable {var['name']}: unexpected query {query!r}"
        out.append((var["name"], m.group(1), m.group(2)))
    return out


# (1) no drift ---------------------------------------------------------------------------


def test_generator_writes_the_committed_json(generator: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "stellwerk.json"
    assert generator.main(["--output", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8"), (
        "deploy/grafana/stellwerk.json is stale: run .venv/bin/python "
        "deploy/grafana/dashboard.py")
    assert generator.render() == generator.render()  # deterministic
    assert generator.main(["--output", str(out), "--check"]) == 0
    out.write_text("{}\n", encoding="utf-8")
    assert generator.main(["--output", str(out), "--check"]) == 1


# (2) metric names ------------------------------------------------------------------------


def test_queries_use_only_catalogue_metrics(board: dict[str, Any]) -> None:
    found = exprs(board)
    assert len(found) > 40
    used: set[str] = set()
    for title, expr in found:
        s = scan(expr)
        assert not s.unknown, f"{title!r}: unknown identifiers {sorted(s.unknown)} in {expr}"
        assert s.metrics, f"{title!r}: no metric in {expr}"
        used |= s.metrics
    for name, metric, _ in variable_queries(board):
        assert metric in exported_names(), f"variable {name}: {metric} is not exported"
    assert {n for n in used if n.startswith("stellwerk_")} <= exported_names()
    # the dashboard covers the catalogue: every metric family shows up somewhere
    shown = {_SAMPLE_SPECS[n][0].name for n in used}
    assert shown == set(SPECS), f"not on the dashboard: {sorted(set(SPECS) - shown)}"


def test_scanner_catches_misspelled_metrics() -> None:
    good = ('histogram_quantile(0.99, sum by (family, le) (rate(stellwerk_end_to_end_'
            'seconds_bucket{family=~"$family", kind!="a{b}c"}[$__rate_interval])))')
    assert scan(good).metrics == {"stellwerk_end_to_end_seconds_bucket"}
    assert not scan(good).unknown
    for bad, unknown in [
        ("sum(rate(stellwerk_record_in_total[5m]))", "stellwerk_record_in_total"),
        ("histogram_quantile(0.5, rate(stellwerk_end_to_end_seconds[5m]))",
         "stellwerk_end_to_end_seconds"),  # a histogram has no plain sample
        ("sum(rat(stellwerk_records_in_total[5m]))", "rat"),  # not a function
        ('sum(rate({__name__="stellwerk_records_in_total"}[5m]))', "{}"),
        ("stellwerk_ready offset 5m + stellwerk_ready_x", "stellwerk_ready_x"),
    ]:
        assert unknown in scan(bad).unknown, bad
    assert not scan('time() - max(stellwerk_last_commit_timestamp_seconds) > 1e3 '
                    'or on () vector(0) unless stellwerk_ready == bool 0').unknown


def test_a_misspelled_metric_in_the_dashboard_fails(board: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(board))
    target = next(p for p in panels(broken) if p.get("targets"))["targets"][0]
    target["expr"] = target["expr"].replace("stellwerk_", "stellwerk_x", 1)
    with pytest.raises(AssertionError, match="unknown identifiers"):
        test_queries_use_only_catalogue_metrics(broken)


# (3) labels --------------------------------------------------------------------------------


def test_grouping_and_selector_labels_exist(board: dict[str, Any]) -> None:
    for title, expr in exprs(board):
        assert not problems(expr), f"{title!r}: {problems(expr)} in {expr}"
    for name, metric, label in variable_queries(board):
        assert label in labels_of(metric), f"variable {name}: {metric} has no label {label}"


def test_scanner_catches_missing_labels() -> None:
    s = scan("sum by (kind) (rate(stellwerk_records_in_total[5m]))")
    ((clause, labels, scope),) = s.groupings
    assert (clause, labels) == ("by", ("kind",))
    assert "kind" not in labels_of(next(iter(scope)))
    s = scan("sum(stellwerk_parse_segments_count) by (type, le)")
    assert s.groupings[0][2] == {"stellwerk_parse_segments_count"}
    assert "le" not in labels_of("stellwerk_parse_segments_count")
    assert "le" in labels_of("stellwerk_parse_segments_bucket")
    assert scan('stellwerk_ready{family="kim"}').matchers == [("stellwerk_ready", "family")]


# (4) a Grafana dashboard ----------------------------------------------------------------


def test_round_trip_through_the_sdk_models(board: dict[str, Any]) -> None:
    register_default_plugins()  # typed options and queries of the panel and query kinds
    decoded = json.loads(json.dumps(Dashboard.from_json(board), cls=JSONEncoder))
    assert decoded == board  # nothing unknown to the schema, nothing lost


def test_dashboard_structure(board: dict[str, Any]) -> None:
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert board["uid"] and board["title"]
    defined = {v["name"] for v in board["templating"]["list"]}
    assert {"datasource", "family"} <= defined
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids)), "panel ids are not unique"
    assert all(isinstance(i, int) and i > 0 for i in ids)

    def check_grid(group: list[dict[str, Any]]) -> None:
        cells: set[tuple[int, int]] = set()
        for p in group:
            g = p["gridPos"]
            assert all(isinstance(g[k], int) for k in "hwxy"), p["title"]
            assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["y"] >= 0
            assert g["x"] + g["w"] <= 24, f"{p['title']!r} is wider than the grid"
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                    for y in range(g["y"], g["y"] + g["h"])}
            assert not cells & mine, f"{p['title']!r} overlaps another panel"
            cells |= mine

    check_grid(board["panels"])
    rows = [p for p in board["panels"] if p["type"] == "row"]
    assert len(rows) >= 6
    for row in rows:
        if row["collapsed"]:
            assert row["panels"], f"collapsed row {row['title']!r} is empty"
            check_grid(row["panels"])
            assert all(p["gridPos"]["y"] > row["gridPos"]["y"] for p in row["panels"])
        else:  # Grafana drops panels nested in an open row: they follow it
            assert not row.get("panels"), f"open row {row['title']!r} nests panels"

    for p in panels(board):
        if p["type"] == "row":
            continue
        assert p["title"] and p.get("description"), p
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["datasource"] == p["datasource"]
            unknown = scan(t["expr"]).variables - defined - GRAFANA_VARIABLES
            assert not unknown, f"{p['title']!r}: undefined variables {unknown}"
            assert "job=" not in t["expr"], f"{p['title']!r} depends on the scrape job"
