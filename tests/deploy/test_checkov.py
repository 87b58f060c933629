"""checkov (policy checks, offline: --skip-download) over deploy/Dockerfile and the
chart's manifests rendered with the default, production and HPA values. Every finding
is fixed or justified in helm/README.md ("checkov findings"); a justification whose
check no longer fails is stale and fails the test too."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helmchart import ROOT, VALUE_FILES, manifests, strip

DOCKERFILE = ROOT / "deploy" / "Dockerfile"
README = ROOT / "helm" / "README.md"
_ROW = re.compile(r"^\|\s*`(CKV\w+)`\s*\|\s*([^|]+?)\s*\|", re.MULTILINE)


def _checkov() -> str:
    found = shutil.which("checkov", path=str(Path(sys.executable).parent)) or shutil.which(
        "checkov")
    assert found, "checkov missing: the dev dependency checkov"
    return found


def _scan(*args: str) -> list[dict[str, Any]]:
    done = subprocess.run([_checkov(), *args, "--skip-download", "--quiet", "--compact",
                           "-o", "json"], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    report = json.loads(done.stdout) if done.stdout.strip() else []
    reports = report if isinstance(report, list) else [report]
    failed: list[dict[str, Any]] = []
    for r in reports:
        failed.extend(r.get("results", {}).get("failed_checks", []))
    return failed


@functools.cache
def _kubernetes_findings(directory: str) -> str:
    failed = _scan("-d", directory, "--framework", "kubernetes")
    return json.dumps([{"check": f["check_id"], "kind": f["resource"].split(".")[0],
                        "name": f["resource"].split(".")[-1],
                        "file": Path(f["file_path"]).name} for f in failed])


def _justified() -> dict[str, str]:
    section = README.read_text(encoding="utf-8").split("## checkov findings", 1)[1]
    return {m.group(1): m.group(2) for m in _ROW.finditer(section)}


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    out = tmp_path_factory.mktemp("rendered")
    for name in VALUE_FILES:
        docs = [strip(d) for d in manifests(name)]
        (out / f"{name}.yaml").write_text(yaml.safe_dump_all(docs))
    return list(json.loads(_kubernetes_findings(str(out))))


@pytest.mark.slow
def test_dockerfile_passes_every_check() -> None:
    failed = _scan("-f", str(DOCKERFILE), "--framework", "dockerfile")
    assert not failed, [(f["check_id"], f["check_name"]) for f in failed]


@pytest.mark.slow
def test_every_manifest_finding_is_justified(findings: list[dict[str, str]]) -> None:
    justified = _justified()
    unexplained = sorted({(f["check"], f["kind"], f["name"]) for f in findings
                          if f["check"] not in justified})
    assert not unexplained, f"fix these or justify them in helm/README.md: {unexplained}"


@pytest.mark.slow
def test_no_stale_justification(findings: list[dict[str, str]]) -> None:
    failing = {f["check"] for f in findings}
    stale = sorted(set(_justified()) - failing)
    assert not stale, f"justified in helm/README.md but no longer failing: {stale}"


@pytest.mark.slow
def test_justified_findings_stay_where_the_readme_says(
        findings: list[dict[str, str]]) -> None:
    """Each justification row names the objects it covers; a finding elsewhere (say the
    router suddenly without probes) is not covered by it."""
    justified = _justified()
    for f in findings:
        scope = justified[f["check"]]
        assert scope == "all workloads" or f["name"] in scope, (f, scope)
