"""One test per MD rule: the happy path, then each reason code the rules produce.

Forms are text-layer PDFs read by the real reader (no OCR), or fake forms where a
reading the fixtures cannot draw (unconfident, another source) is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from kimfixtures.mails import KVNR, KVNR_2, befundbericht_pdf, cda_xml, fake_form, kim_mail
from kimfixtures.muster86 import muster86_pdf

import kimmail
from kimmail import CATALOGUE, KimConfig, MailVerdict, MdConfig, analyse, reason
from kimmail.reasons import notice_for

AKZ = "400000000482041289"
AKZ_2 = "400000000482041297"
Run = Callable[..., MailVerdict]


def codes(v: MailVerdict) -> set[str]:
    return {r.code for r in v.reasons}


def test_valid_earztbrief_mail_is_accepted() -> None:
    v = analyse(kim_mail())
    assert v.verdict == "accepted", v.reasons
    assert v.aktenzeichen == AKZ
    assert v.aktenzeichen_source == "pdf-text"
    assert v.insured_count == 1
    assert v.kvnr == KVNR
    assert v.notice is None
    assert v.md == "MD Sachsen"
    assert v.sender == "praxis.dr.beispiel@arzt.kim.telematik"
    assert v.dienstkennung == "Arztbrief;VHitG-Versand;V1.2"
    roles = [a.role for a in v.attachments]
    assert roles == ["body", "muster86", "document", "letter", "cda"]


def test_kim01_no_muster86() -> None:
    v = analyse(kim_mail(muster86=None))
    assert "KIM01" in codes(v)
    assert v.verdict == "quarantined"
    assert v.notice is not None
    assert "Bitte den eingescannten Weiterleitungsbogen (Muster 86) beifügen." in v.notice


def test_kim01_not_required_when_configured(run_fake: Run) -> None:
    md = MdConfig(sources=("subject",), require_form=False)
    v = run_fake(kim_mail(muster86=None, subject=f"Unterlagen {AKZ}"), KimConfig(md=md))
    assert v.verdict == "accepted", v.reasons
    assert (v.aktenzeichen, v.aktenzeichen_source) == (AKZ, "subject")


def test_kim02_form_without_confident_aktenzeichen(run_fake: Run) -> None:
    v = run_fake(kim_mail(muster86=fake_form(confident=False)))
    assert "KIM02" in codes(v)
    assert v.aktenzeichen is None


def test_kim02_source_not_allowed(run_fake: Run) -> None:
    # The MD does not trust OCR: an OCR reading is as good as none (never a guess).
    md = MdConfig(sources=("pdf-text", "barcode"))
    v = run_fake(kim_mail(muster86=fake_form(source="ocr")), KimConfig(md=md))
    assert "KIM02" in codes(v)
    assert v.aktenzeichen is None


def test_kim06_two_insured_cda_and_form() -> None:
    v = analyse(kim_mail(muster86=muster86_pdf(kvnr=KVNR_2), kvnr=KVNR))
    assert "KIM06" in codes(v)
    assert v.insured_count == 2
    assert v.kvnr is None


def test_kim06_two_cda_patients() -> None:
    second = ("Anhang-01.xml", cda_xml(KVNR_2), "application/xml")
    v = analyse(kim_mail(documents=[second, ("B.pdf", _befund(), "application/pdf")]))
    assert "KIM06" in codes(v)
    assert v.insured_count == 2


def _befund() -> bytes:
    return befundbericht_pdf()


def test_kim07_other_md_on_form() -> None:
    v = analyse(kim_mail(muster86=muster86_pdf(md="Niedersachsen")))
    assert "KIM07" in codes(v)


def test_kim07_not_for_unreadable_md_block(run_fake: Run) -> None:
    v = run_fake(kim_mail(muster86=fake_form(md="")))
    assert "KIM07" not in codes(v)
    assert v.verdict == "accepted", v.reasons


def test_kim08_wrong_mailbox() -> None:
    v = analyse(kim_mail(to="befunde@md-niedersachsen.kim.telematik"))
    assert "KIM08" in codes(v)


def test_kim08_cc_is_enough() -> None:
    raw = kim_mail(to="andere@md-sachsen.kim.telematik",
                   extra_headers=(("Cc", "MD <Befunde@MD-Sachsen.kim.telematik>"),))
    assert "KIM08" not in codes(analyse(raw))


def test_kim09_only_form_and_notices() -> None:
    v = analyse(kim_mail(documents=[], earztbrief=False, client_notice=True))
    assert "KIM09" in codes(v)


def test_kim10_two_forms_with_different_aktenzeichen() -> None:
    second = ("Bogen2.pdf", muster86_pdf(AKZ_2), "application/pdf")
    v = analyse(kim_mail(documents=[second, ("B.pdf", _befund(), "application/pdf")]))
    assert "KIM10" in codes(v)
    assert v.aktenzeichen is None


def test_kim10_subject_contradicts_form(run_fake: Run) -> None:
    md = MdConfig(sources=("pdf-text", "subject"))
    v = run_fake(kim_mail(muster86=fake_form(), subject=f"Az {AKZ_2}"), KimConfig(md=md))
    assert "KIM10" in codes(v)


def test_same_aktenzeichen_twice_is_fine() -> None:
    second = ("Bogen-Kopie.pdf", muster86_pdf(), "application/pdf")
    v = analyse(kim_mail(documents=[second, ("B.pdf", _befund(), "application/pdf")]))
    assert v.verdict == "accepted", v.reasons
    assert v.aktenzeichen == AKZ


def test_kim12_invalid_kvnr_in_cda() -> None:
    v = analyse(kim_mail(cda=cda_xml("A123456781")))
    assert "KIM12" in codes(v)
    assert "A123456781" not in msgspec.json.encode(v.reasons).decode()


def test_subject_ignored_unless_configured(run_fake: Run) -> None:
    v = run_fake(kim_mail(muster86=fake_form(), subject=f"Az {AKZ_2}"))
    assert v.verdict == "accepted"
    assert v.aktenzeichen == AKZ


def test_warnings_alone_accept() -> None:
    v = analyse(kim_mail(body="Anbei die Unterlagen, viele Grüße"))
    assert codes(v) == {"KIM52"}
    assert v.verdict == "accepted"
    assert v.notice is None


def test_notice_joins_error_notices() -> None:
    v = analyse(kim_mail(muster86=None, to="x@y.kim.telematik"))
    assert v.notice == "\n".join([notice_for("KIM01"), notice_for("KIM08")])


def test_catalogue_complete_and_german() -> None:
    expected = {f"KIM{n:02d}" for n in (*range(1, 13), *range(20, 28), 51, 52)}
    assert set(CATALOGUE) == expected
    for code, info in CATALOGUE.items():
        assert info.severity == ("warning" if code >= "KIM50" else "error")
        assert info.text and info.notice
    assert reason("KIM11").severity == "error"
    assert reason("KIM27").code == "KIM27"
    with pytest.raises(Exception, match="unknown"):
        reason("KIM99")


def test_no_personal_data_in_verdict_texts() -> None:
    v = analyse(kim_mail(muster86=muster86_pdf(kvnr=KVNR_2, md="Bayern"),
                         body="Erika Musterfrau"))
    text = msgspec.json.encode([v.reasons, v.notice]).decode()
    for secret in (KVNR, KVNR_2, "Musterfrau", "1970"):
        assert secret not in text


def test_readme_documents_every_code() -> None:
    readme = (Path(kimmail.__file__).parent / "README.md").read_text(encoding="utf-8")
    for code, info in CATALOGUE.items():
        assert f"| {code} | {info.severity} | {info.text} | {info.notice} |" in readme, code
