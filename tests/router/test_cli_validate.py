"""The ``stellwerk validate`` / ``reply`` contract: fields, exit codes, no tracebacks.

§301 interchanges and KIM mails are told apart by content; mails are built by
:func:`kimfixtures.mails.kim_mail` with a text-layer Muster 86 (no OCR: fast).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from kimfixtures.mails import KVNR, kim_mail
from kimfixtures.muster86 import muster86_pdf

from sgb301.examples import load

CONTRACT_FIELDS = {"source", "message", "type", "version", "reference", "sender_ik",
                   "receiver_ik", "case", "verdict", "errors"}
ERROR_FIELDS = {"code", "stage", "segment", "segment_number", "element", "text"}
MAIL_FIELDS = {"source", "kind", "verdict", "aktenzeichen", "aktenzeichen_source", "md",
               "insured_count", "reasons", "attachments"}
AKTENZEICHEN = "400000000482041289"
# Fictitious insured person of the fixture: none of it may ever be printed.
INSURED_NAME, BIRTH_DATE = "Musterfrau, Erika", "01.02.1970"
PERSONAL = (KVNR, "Musterfrau", "Erika", BIRTH_DATE, "19700201")


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
    assert obj == obj | {"source": str(files["8.1.1-AUFN"]), "kind": "s301", "message": 1,
                         "type": "AUFN",
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


# --- KIM mails --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mails(tmp_path_factory: pytest.TempPathFactory, files: dict[str, Path]) -> dict[str, Path]:
    """Mails (and look-alikes) as files; the names say what they are, not what is read."""
    d = tmp_path_factory.mktemp("kim")
    form = muster86_pdf(AKTENZEICHEN, kvnr=KVNR, insured_name=INSURED_NAME,
                        birth_date=BIRTH_DATE)  # text layer: no OCR
    contents = {
        "accepted.eml": kim_mail(muster86=form),
        "no-form.eml": kim_mail(muster86=None),
        # content decides, not the name
        "mail-named.edi": kim_mail(muster86=form),
        "s301-named.eml": files["8.1.1-AUFN"].read_bytes(),
        "random.bin": bytes((i * 151 + 7) % 256 for i in range(4096)),
        "plain.txt": "Anbei die Unterlagen.\nMit freundlichen Grüßen\n".encode(),
        "colon.txt": b"Betreff: Unterlagen\nPatient: unbekannt\n\nText\n",
    }
    out = {}
    for name, data in contents.items():
        (d / name).write_bytes(data)
        out[name] = d / name
    return out


def test_accepted_mail_exact_fields_exit_0(mails: dict[str, Path]) -> None:
    r = run("validate", "--json", str(mails["accepted.eml"]))
    assert r.returncode == 0, r.stderr
    (obj,) = lines(r.stdout)
    assert obj.keys() >= MAIL_FIELDS
    assert {k: obj[k] for k in MAIL_FIELDS - {"attachments"}} == {
        "source": str(mails["accepted.eml"]), "kind": "kim", "verdict": "accepted",
        "aktenzeichen": AKTENZEICHEN, "aktenzeichen_source": "pdf-text", "md": "MD Sachsen",
        "insured_count": 1, "reasons": []}
    attachments = obj["attachments"]
    assert isinstance(attachments, list)
    assert all(a.keys() >= {"filename", "role"} for a in attachments)
    roles = {a["filename"]: a["role"] for a in attachments if a["filename"]}
    assert roles == {"Muster86.pdf": "muster86", "Befundbericht.pdf": "document",
                     "eArztbrief.pdf": "letter", "eArztbrief.xml": "cda"}
    assert "kvnr" not in obj and "sender" not in obj and "notice" not in obj


def test_mail_without_muster86_is_quarantined_kim01_exit_1(mails: dict[str, Path]) -> None:
    r = run("validate", "--json", str(mails["no-form.eml"]))
    assert r.returncode == 1, r.stderr
    (obj,) = lines(r.stdout)
    assert (obj["kind"], obj["verdict"], obj["aktenzeichen"], obj["aktenzeichen_source"]) == (
        "kim", "quarantined", None, None)
    reasons = obj["reasons"]
    assert isinstance(reasons, list)
    assert [x["code"] for x in reasons] == ["KIM01"]
    assert reasons[0]["text"] == "Kein Weiterleitungsbogen (Muster 86) gefunden."
    assert "muster86" not in [a["role"] for a in obj["attachments"]]  # type: ignore[union-attr]


def test_s301_objects_have_kind_s301(files: dict[str, Path]) -> None:
    r = run("validate", "--json", str(files["8.1.1-AUFN"]), str(files["8.1.1-RECH"]))
    objs = lines(r.stdout)
    assert [(o["kind"], o["message"]) for o in objs] == [("s301", 1), ("s301", 0), ("s301", 1)]


def test_neither_s301_nor_mail_is_one_rejected_unknown_object(mails: dict[str, Path]) -> None:
    names = ["random.bin", "plain.txt", "colon.txt"]
    r = run("validate", "--json", *(str(mails[n]) for n in names))
    assert r.returncode == 1, r.stderr
    assert b"Traceback" not in r.stderr
    objs = lines(r.stdout)
    assert [o["source"] for o in objs] == [str(mails[n]) for n in names]  # one per file
    for o in objs:
        assert o.keys() >= CONTRACT_FIELDS
        assert (o["kind"], o["verdict"], o["message"]) == ("unknown", "rejected", 0)
        errors = o["errors"]
        assert isinstance(errors, list) and errors
        assert "10066" in [e["code"] for e in errors]
        assert o["detail"] == ("weder §301-Datei (UNA/UNB am Anfang) noch Mail (Kopfzeilen "
                               "nach RFC 5322)")


def test_empty_and_unreadable_are_unknown(tmp_path: Path) -> None:
    (tmp_path / "empty.eml").write_bytes(b"")
    r = run("validate", "--json", str(tmp_path / "empty.eml"), str(tmp_path / "missing.eml"))
    assert r.returncode == 2
    empty, missing = lines(r.stdout)
    assert (empty["kind"], empty["verdict"], empty["detail"]) == (
        "unknown", "rejected", "Datei leer")
    assert (missing["kind"], missing["verdict"], missing["detail"]) == (
        "unknown", "rejected", "Datei nicht lesbar")
    assert [e["code"] for e in missing["errors"]] == ["1SW01"]  # type: ignore[union-attr]


def test_detection_is_by_content_not_name(mails: dict[str, Path]) -> None:
    r = run("validate", "--json", str(mails["mail-named.edi"]), str(mails["s301-named.eml"]))
    assert r.returncode == 0, r.stderr
    mail, s301 = lines(r.stdout)
    assert (mail["kind"], mail["verdict"], mail["aktenzeichen"]) == (
        "kim", "accepted", AKTENZEICHEN)
    assert (s301["kind"], s301["message"], s301["verdict"]) == ("s301", 1, "accepted")


@pytest.mark.parametrize(("names", "code"), [
    (["accepted.eml", "no-form.eml", "s301-named.eml"], 1),
    (["random.bin", "accepted.eml", "missing.eml", "no-form.eml"], 2),
])
def test_mixed_files_exit_with_the_worst_code(mails: dict[str, Path], names: list[str],
                                              code: int) -> None:
    paths = [str(mails[n]) if n in mails else str(mails["accepted.eml"].parent / n)
             for n in names]
    r = run("validate", "--json", *paths)
    assert r.returncode == code, r.stderr
    assert [o["source"] for o in lines(r.stdout)] == paths


def test_mail_json_never_contains_personal_data(mails: dict[str, Path]) -> None:
    # KVNR, name and birth date are on the Muster 86 and (KVNR) in the CDA of each mail
    r = run("validate", "--json", str(mails["accepted.eml"]), str(mails["no-form.eml"]))
    text = (r.stdout + r.stderr).decode()
    assert len(lines(r.stdout)) == 2
    for value in PERSONAL:
        assert value not in text, value


def test_human_output_lists_each_mail_and_counts_them(files: dict[str, Path],
                                                      mails: dict[str, Path]) -> None:
    r = run("validate", str(files["8.1.1-AUFN"]), str(mails["accepted.eml"]),
            str(mails["no-form.eml"]), str(mails["colon.txt"]))
    assert r.returncode == 1
    out = r.stdout.decode().splitlines()
    assert out == [
        f"{mails['accepted.eml']}: kim: accepted",
        f"  Aktenzeichen {AKTENZEICHEN} (pdf-text), MD Sachsen",
        f"{mails['no-form.eml']}: kim: quarantined",
        "  KIM01 (error): Kein Weiterleitungsbogen (Muster 86) gefunden.",
        f"{mails['colon.txt']}: unknown: rejected",
        "  weder §301-Datei (UNA/UNB am Anfang) noch Mail (Kopfzeilen nach RFC 5322)",
        "  10066 (Prüfstufe 1) UNB: Segment UNB fehlt bzw. folgt nicht auf UNA",
        "4 file(s), 1 message(s) accepted, 0 rejected, 1 mail(s) accepted, 1 quarantined",
    ]
    assert not [value for value in PERSONAL if value in r.stdout.decode()]


def test_config_kim_section_applies_to_mails(tmp_path: Path, mails: dict[str, Path]) -> None:
    cfg = tmp_path / "stellwerk.toml"
    cfg.write_text('[kim]\nmd_name = "MD Sachsen (Test)"\n'
                   'md_address = "post@md-test.kim.telematik"\n', encoding="utf-8")
    r = run("validate", "--json", "--config", str(cfg), str(mails["accepted.eml"]))
    assert r.returncode == 1, r.stderr
    (obj,) = lines(r.stdout)
    assert (obj["md"], obj["verdict"]) == ("MD Sachsen (Test)", "quarantined")
    # the fixture is addressed to befunde@md-sachsen…, not to the configured mailbox
    assert [x["code"] for x in obj["reasons"]] == ["KIM08"]  # type: ignore[union-attr]


def test_bad_config_exits_2_without_traceback(tmp_path: Path, mails: dict[str, Path]) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[kim]\nno_such_key = 1\n", encoding="utf-8")
    r = run("validate", "--json", "--config", str(cfg), str(mails["accepted.eml"]))
    assert r.returncode == 2
    assert r.stdout == b"" and b"Traceback" not in r.stderr
