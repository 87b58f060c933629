"""The ``stellwerk validate`` / ``reply`` contract: fields, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sgb301.examples import load

CONTRACT_FIELDS = {"source", "message", "type", "version", "reference", "sender_ik",
                   "receiver_ik", "case", "verdict", "errors"}
ERROR_FIELDS = {"code", "stage", "segment", "segment_number", "element", "text"}


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "router.cli", *args], input=stdin,
                          capture_output=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("ex")
    out = {}
    for name, data in load().items():
        p = d / f"{name}.edi"
        p.write_bytes(data)
        out[name] = p
    return out


def lines(out: bytes) -> list[dict[str, object]]:
    return [json.loads(x) for x in out.decode().splitlines()]


def test_accepted_file_exits_0_with_contract_fields(files: dict[str, Path]) -> None:
    r = run("validate", "--json", str(files["8.1.1-AUFN"]))
    assert r.returncode == 0, r.stderr
    (obj,) = lines(r.stdout)
    assert obj.keys() >= CONTRACT_FIELDS
    assert obj == obj | {"source": str(files["8.1.1-AUFN"]), "message": 1, "type": "AUFN",
                         "version": "13", "reference": "00001", "sender_ik": "260510223",
                         "receiver_ik": "120591481", "case": "1234567",
                         "verdict": "accepted", "errors": []}


def test_rejected_message_exits_1_with_error_position(files: dict[str, Path]) -> None:
    r = run("validate", "--json", str(files["8.1.1-AUFN"]), str(files["8.1.1-RECH"]))
    assert r.returncode == 1
    objs = lines(r.stdout)
    # the wrong UNT count is Prüfstufe 1: a file object (message 0), then the message
    assert [(o["message"], o["verdict"]) for o in objs] == [
        (1, "accepted"), (0, "rejected"), (1, "rejected")]
    assert [e["code"] for e in objs[2]["errors"]] == ["1SW00"]  # type: ignore[union-attr]
    (err,) = objs[1]["errors"]  # type: ignore[misc]
    assert err.keys() >= ERROR_FIELDS
    assert {k: err[k] for k in ERROR_FIELDS} == {
        "code": "1SW18", "stage": 1, "segment": "UNT", "segment_number": 16, "element": 1,
        "text": "Anzahl der Segmente in UNT stimmt nicht"}


def test_stdin_and_file_level_error_is_message_0() -> None:
    r = run("validate", "--json", "-", stdin=b"this is not edifact")
    assert r.returncode == 1
    (obj,) = lines(r.stdout)
    assert obj["message"] == 0 and obj["verdict"] == "rejected" and obj["source"] == "-"
    assert [e["code"] for e in obj["errors"]] == ["10066"]  # type: ignore[union-attr]


@pytest.mark.parametrize("data", [b"", b"UNB+UNOC:3+260510223+120591481+151127:1200+00001++T"])
def test_empty_or_truncated_is_rejected_not_crashed(data: bytes) -> None:
    r = run("validate", "--json", "-", stdin=data)
    assert r.returncode == 1
    assert b"Traceback" not in r.stderr
    assert lines(r.stdout)[0]["message"] == 0


def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    r = run("validate", "--json", str(tmp_path / "missing.edi"))
    assert r.returncode == 2
    (obj,) = lines(r.stdout)
    assert obj["message"] == 0 and obj["verdict"] == "rejected"
    assert b"Traceback" not in r.stderr


@pytest.mark.parametrize("args", [["validate"], ["validate", "--mode", "xx", "a"], ["nope"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    r = run(*args)
    assert r.returncode == 2
    assert b"Traceback" not in r.stderr


def test_human_summary_names_the_error_and_never_patient_data(files: dict[str, Path]) -> None:
    r = run("validate", *map(str, files.values()))
    text = r.stdout.decode()
    assert r.returncode == 1
    assert "1SW18" in text and "8 file(s), 6 message(s) accepted, 2 rejected" in text
    assert "Mustermann" not in text and "20000101" not in text


def test_gkv_mode_and_test_flag(files: dict[str, Path]) -> None:
    assert run("validate", "--mode", "gkv", str(files["8.1.2-AUFN"])).returncode == 0
    assert run("validate", "--test", str(files["8.1.2-AUFN"])).returncode == 0


def test_reply_prints_koub_and_fehl(files: dict[str, Path]) -> None:
    r = run("reply", "--now", "2015-08-22T10:00", str(files["8.1.1-AUFN"]),
            str(files["8.1.1-RECH"]))
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode("latin-1").splitlines()
    assert len(out) == 2
    assert "KOUB:13:000:00'FKT+10+01+120591481+260510223'" in out[0]
    assert "KOS+20150822+01+20150822'" in out[0]
    assert "FEHL:13:000:00'" in out[1] and "FHL+1SW18+" in out[1]
