"""The alert rules (``deploy/prometheus/alerts.yml``): valid, unit-tested by promtool,
built on metrics the router and the lag exporter really export, each with a runbook."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from promql import problems

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
UNIT_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
README = ROOT / "README.md"
#: Series Prometheus adds itself.
SCRAPE = {"up": frozenset({"job", "instance"})}


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool missing: the Debian package prometheus (make system-deps)"
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def _rules(path: Path = RULES) -> list[dict[str, Any]]:
    doc = yaml.safe_load(path.read_text())
    return [r for group in doc["groups"] for r in group["rules"]]


def test_promtool_checks_the_rules() -> None:
    done = _promtool("check", "rules", str(RULES), cwd=RULES.parent)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_pass() -> None:
    done = _promtool("test", "rules", UNIT_TESTS.name, cwd=UNIT_TESTS.parent)
    assert done.returncode == 0, done.stdout + done.stderr


def test_unit_tests_fail_when_an_alert_is_broken(tmp_path: Path) -> None:
    """The unit tests bite: the stall alert that never fires makes them fail."""
    broken = RULES.read_text().replace(
        "max by (group, topic, partition) (stellwerk_group_lag) > 0\n",
        "max by (group, topic, partition) (stellwerk_group_lag) > 1e12\n")
    assert broken != RULES.read_text()
    (tmp_path / "alerts.yml").write_text(broken)
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    done = _promtool("test", "rules", UNIT_TESTS.name, cwd=tmp_path)
    assert done.returncode != 0
    assert "StellwerkStalled" in done.stdout + done.stderr


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    tests = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    fired = {case["alertname"] for t in tests for case in t.get("alert_rule_test", [])
             if case.get("exp_alerts")}
    names = {r["alert"] for r in _rules()}
    assert names - fired == set(), f"alerts without a firing test: {sorted(names - fired)}"


@pytest.mark.parametrize("rule", _rules(), ids=lambda r: r["alert"])
def test_rule_uses_exported_metrics_and_has_a_runbook(rule: dict[str, Any]) -> None:
    assert not problems(rule["expr"], extra=SCRAPE), problems(rule["expr"], extra=SCRAPE)
    assert rule["labels"]["severity"] in {"critical", "warning"}
    assert {"summary", "description", "runbook"} <= set(rule["annotations"])


def test_readme_explains_every_alert() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [r["alert"] for r in _rules() if r["alert"] not in text]
    assert not missing, f"README does not explain {missing}"
