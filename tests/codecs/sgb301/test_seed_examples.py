"""The published DGUV examples (seed 004, Anlage 8.1) as the codec sees them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from sgb301 import ACCEPTED, REJECTED, examples

# The shared docs sit next to the repository: <repo>/../shared/seeds/…
REPO = Path(__file__).resolve().parents[3]
SEED = REPO / ".." / "shared" / "seeds" / "004_86577fd7762d496d.txt"

# The published segment counts of the RECH examples are one too low.
RECH_SEGMENTS = {"8.1.1-RECH": 16, "8.1.2-RECH": 15}

EXPECTED_FIELDS = {
    "8.1.1-AUFN": "1234567",
    "8.1.2-AUFN": "7654321",
}


def test_there_are_eight_examples(seed_examples: dict[str, bytes]) -> None:
    assert sorted(seed_examples) == sorted(
        f"{case}-{kind}" for case in ("8.1.1", "8.1.2") for kind in ("AUFN", "KOUB", "ENTL", "RECH")
    )


def test_every_example_is_one_message_in_a_test_interchange(seed_example, uv) -> None:
    name, data = seed_example
    report = uv.validate(data)
    assert [e.code for e in report.file_errors] == (["1SW18"] if name.endswith("RECH") else [])
    assert len(report.messages) == 1
    verdict = report.messages[0]
    assert verdict.type == name.split("-")[1]
    assert verdict.version == "13"
    assert verdict.reference == "00001"
    assert verdict.test is True
    assert report.test is True
    # the verdict spans the message, UNH … UNT
    assert data[verdict.start : verdict.end].startswith(b"UNH+00001+")
    assert data[verdict.start : verdict.end].rstrip().endswith(b"+00001'")


@pytest.mark.parametrize("mode", ["uv", "gkv"])
def test_consistent_examples_are_accepted(consistent_example, validator, mode) -> None:
    _name, data = consistent_example
    report = validator(mode=mode).validate(data)
    assert report.file_errors == ()
    assert [(m.verdict, m.errors) for m in report.messages] == [(ACCEPTED, ())]
    assert report.accepted


@pytest.mark.parametrize("mode", ["uv", "gkv"])
def test_published_rech_examples_have_a_wrong_segment_count(published_rech, validator,
                                                             mode) -> None:
    name, data = published_rech
    report = validator(mode=mode).validate(data)
    # a wrong UNT count is Prüfstufe 1: the file is rejected, the message with it
    assert [(e.code, e.stage, e.segment, e.segment_number, e.element, e.offset)
            for e in report.file_errors] == [
        ("1SW18", 1, "UNT", RECH_SEGMENTS[name], 1, data.index(b"UNT+"))]
    assert report.file_errors[0].text == "Anzahl der Segmente in UNT stimmt nicht"
    (verdict,) = report.messages
    assert verdict.verdict == REJECTED
    assert [e.code for e in verdict.errors] == ["1SW00"]
    # the count as published is one less than the segments UNH … UNT
    published = examples.message(name).splitlines()
    assert len(published) == RECH_SEGMENTS[name]
    assert published[-1] == f"UNT+{RECH_SEGMENTS[name] - 1}+00001'".encode()


@pytest.mark.parametrize("name", sorted(RECH_SEGMENTS))
def test_rech_examples_with_corrected_count_are_accepted(name, edi, uv, gkv) -> None:
    data = edi.interchange(edi.fixed(name))
    for v in (uv, gkv):
        report = v.validate(data)
        assert report.accepted, report


@pytest.mark.parametrize("name", sorted(EXPECTED_FIELDS))
def test_aufn_fields(name, seed_examples, uv, single) -> None:
    verdict = single(uv.validate(seed_examples[name]))
    assert (verdict.type, verdict.version, verdict.reference) == ("AUFN", "13", "00001")
    assert (verdict.sender_ik, verdict.receiver_ik) == ("260510223", "120591481")
    assert verdict.case == EXPECTED_FIELDS[name]
    assert verdict.test is True
    assert verdict.processing == "10"
    assert verdict.sequence == "01"
    assert verdict.unfalltag == {"8.1.1-AUFN": "20150821", "8.1.2-AUFN": "BK"}[name]


@pytest.mark.parametrize("name", ["8.1.1-KOUB", "8.1.2-KOUB"])
def test_koub_comes_back_from_the_test_ik(name, seed_examples, uv, single) -> None:
    verdict = single(uv.validate(seed_examples[name]))
    assert (verdict.sender_ik, verdict.receiver_ik) == ("120591481", "260510223")
    assert verdict.test is True
    assert verdict.accepted


# ---- the example files are the seed text, nothing else -----------------------------

_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\(#\)")
_CASE = re.compile(r"8\.1\.([12])\b")


def _seed_messages(text: str) -> dict[str, bytes]:
    """Every UNH … UNT block of the seed, keyed like ``sgb301.examples``."""
    out: dict[str, bytes] = {}
    case = ""
    block: list[str] | None = None
    for raw in text.splitlines():
        line = _MARKDOWN_LINK.sub(r"\1", raw).strip()
        if block is None:
            heading = _CASE.search(line)
            if heading and line.startswith(("#", "**")):
                case = f"8.1.{heading.group(1)}"
            if line.startswith("UNH+"):
                block = [line]
            continue
        block.append(line)
        if line.startswith("UNT+"):
            kind = block[0].split("+")[2].split(":")[0]
            key = f"{case}-{kind}"
            assert key not in out, f"{key} twice in the seed"
            out[key] = ("\n".join(block) + "\n").encode("latin-1")
            block = None
    return out


def read_seed(path: Path, *, ci: bool) -> str:
    """The seed text; without it the comparison is skipped locally, but fails under CI,
    where a missing seed would otherwise hide the check for good."""
    if not path.exists():
        if ci:
            pytest.fail(f"seed file {path} missing (CI=true: the seed must be checked)")
        pytest.skip(f"seed file {path} not available")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def seed_text() -> str:
    return read_seed(SEED, ci=os.environ.get("CI", "").lower() == "true")


def test_seed_path_is_relative_to_the_repository() -> None:
    assert (REPO / "codecs" / "sgb301").is_dir()
    assert SEED.resolve() == (REPO.parent / "shared" / "seeds" / SEED.name).resolve()


def test_missing_seed_fails_under_ci(tmp_path: Path) -> None:
    missing = tmp_path / "absent.txt"
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        read_seed(missing, ci=True)
    with pytest.raises(pytest.skip.Exception):
        read_seed(missing, ci=False)


def test_seed_has_the_eight_messages(seed_text) -> None:
    assert sorted(_seed_messages(seed_text)) == sorted(examples.MESSAGES)


@pytest.mark.parametrize("name", sorted(examples.MESSAGES))
def test_example_file_equals_seed_text(name, seed_text) -> None:
    assert examples.message(name) == _seed_messages(seed_text)[name]


def test_markdown_artefacts_are_stripped() -> None:
    assert _MARKDOWN_LINK.sub(r"\1", "UNH+00001+KOUB:[13](#):000:00'") == (
        "UNH+00001+KOUB:13:000:00'"
    )
