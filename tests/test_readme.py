"""The README lists every error code of the catalogue, with its text."""

from pathlib import Path

from router.metrics.catalogue import SPECS
from sgb301 import CATALOGUE

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_commands() -> None:
    block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert "make demo" in block and "make test" in block


def test_every_error_code_is_documented() -> None:
    for info in CATALOGUE.values():
        assert f"| `{info.code}` | {info.stage} | {info.text} |" in README, info.code


def test_ci_runs_the_readme_test_command() -> None:
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "make test" in ci


def test_every_metric_is_documented() -> None:
    for spec in SPECS.values():
        name = spec.name + ("_info" if spec.kind == "info" else "")
        labels = ", ".join(spec.labels) or "–"
        assert f"| `{name}` | {spec.kind} | {labels} |" in README, spec.name
