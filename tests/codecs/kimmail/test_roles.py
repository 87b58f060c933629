"""Roles by content, not by file name or declared type; which parts the reader sees."""

from __future__ import annotations

import io
from collections.abc import Callable

from kimfixtures.mails import (
    befundbericht_pdf,
    cda_xml,
    fake_form,
    fake_reader,
    kim_mail,
    no_text,
    signature_report_pdf,
)
from kimfixtures.muster86 import muster86_pdf
from PIL import Image

from kimmail import KimConfig, MailVerdict, analyse
from kimmail.muster86 import FormLimits, FormReading

DEFAULT_LIMITS = FormLimits()
Run = Callable[..., MailVerdict]


def roles(v: MailVerdict) -> dict[str, str]:
    return {a.filename: a.role for a in v.attachments if a.filename}


def codes(v: MailVerdict) -> set[str]:
    return {r.code for r in v.reasons}


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 180, 160)).save(buf, format="JPEG")
    return buf.getvalue()


def test_misleading_names_and_types() -> None:
    raw = kim_mail(
        muster86=muster86_pdf(),
        muster86_name="foto.jpg",
        muster86_media="image/jpeg",
        documents=[
            ("Muster86.pdf", befundbericht_pdf(), "application/octet-stream"),
            ("scan.pdf", _jpeg(), "application/pdf"),
            ("brief.xml.pdf", cda_xml(), "application/pdf"),
        ],
        earztbrief=False,
    )
    v = analyse(raw)
    assert roles(v) == {
        "foto.jpg": "muster86",
        "Muster86.pdf": "letter",  # the only non-form PDF of a mail with a CDA
        "scan.pdf": "document",
        "brief.xml.pdf": "cda",
    }
    assert v.verdict == "accepted", v.reasons


def test_letter_only_with_cda() -> None:
    v = analyse(kim_mail(earztbrief=False))
    assert roles(v) == {"Muster86.pdf": "muster86", "Befundbericht.pdf": "document"}
    v = analyse(kim_mail())
    assert roles(v)["eArztbrief.pdf"] == "letter"
    assert roles(v)["Befundbericht.pdf"] == "document"
    assert roles(v)["eArztbrief.xml"] == "cda"


def test_inline_parts_count_as_attachments() -> None:
    v = analyse(kim_mail(inline=True))
    assert v.verdict == "accepted", v.reasons
    assert roles(v)["Muster86.pdf"] == "muster86"
    assert roles(v)["Befundbericht.pdf"] == "document"


def test_client_notice_pdf_by_text_layer() -> None:
    v = analyse(kim_mail(client_notice=True, documents=[
        ("Befund.pdf", signature_report_pdf(), "application/pdf"),
        ("B.pdf", befundbericht_pdf(), "application/pdf"),
    ]))
    r = roles(v)
    assert r["Signaturpruefbericht.pdf"] == "client-notice"
    assert r["Befund.pdf"] == "client-notice"  # the name says Befund, the text says report
    assert v.verdict == "accepted", v.reasons


def test_client_notice_text_part(run_fake: Run) -> None:
    raw = kim_mail(muster86=fake_form(), body="Prüfbericht des Clientmoduls\nSignatur gültig")
    v = run_fake(raw)
    assert v.attachments[0].role == "client-notice"
    assert "KIM52" not in codes(v)


def test_body_warns_but_blank_body_does_not(run_fake: Run) -> None:
    v = run_fake(kim_mail(muster86=fake_form(), body="Hallo MD, anbei."))
    assert v.attachments[0].role == "body"
    assert "KIM52" in codes(v)
    v = run_fake(kim_mail(muster86=fake_form(), body="  \r\n"))
    assert "KIM52" not in codes(v)


def test_unsupported_format_warns(run_fake: Run) -> None:
    docx = b"PK\x03\x04" + b"\x00" * 40
    v = run_fake(kim_mail(muster86=fake_form(), documents=[
        ("Befund.docx", docx, "application/vnd.openxmlformats"),
        ("B.pdf", befundbericht_pdf(), "application/pdf"),
    ]))
    assert roles(v)["Befund.docx"] == "other"
    assert codes(v) == {"KIM51"}
    assert v.verdict == "accepted"


def test_plain_xml_is_not_cda(run_fake: Run) -> None:
    v = run_fake(kim_mail(muster86=fake_form(), documents=[
        ("x.xml", b"<?xml version='1.0'?><root/>", "text/xml"),
        ("B.pdf", befundbericht_pdf(), "application/pdf"),
    ], earztbrief=False))
    assert roles(v)["x.xml"] == "other"


def test_reader_sees_every_candidate_without_ocr_for_text_documents() -> None:
    calls: list[tuple[str, bool]] = []

    def spy(data: bytes, media: str, *, pattern: str = r"[0-9]{18}",
            limits: FormLimits = DEFAULT_LIMITS) -> FormReading:
        calls.append((media, limits.ocr))
        return fake_reader(data, media, pattern=pattern, limits=limits)

    raw = kim_mail(muster86=fake_form(), documents=[
        ("B.pdf", befundbericht_pdf(), "application/pdf"),
        ("scan.jpg", _jpeg(), "image/jpeg"),
    ], client_notice=True)
    v = analyse(raw, KimConfig(), reader=spy)
    # form (no text layer: OCR allowed), Befundbericht (text, no anchor: no OCR), JPEG
    # (OCR allowed), eArztbrief PDF (no OCR); CDA, body and signature report not read.
    assert calls == [
        ("application/pdf", True),
        ("application/pdf", False),
        ("image/jpeg", True),
        ("application/pdf", False),
    ]
    assert v.verdict == "accepted", v.reasons


def test_scan_like_pdf_gets_ocr() -> None:
    seen: list[bool] = []

    def spy(data: bytes, media: str, *, pattern: str = r"[0-9]{18}",
            limits: FormLimits = DEFAULT_LIMITS) -> FormReading:
        seen.append(limits.ocr)
        return fake_reader(data, media, pattern=pattern, limits=limits)

    analyse(kim_mail(muster86=fake_form(), earztbrief=False), reader=spy, text_layer=no_text)
    assert seen == [True, True]


def test_reader_that_cannot_look_gives_kim26() -> None:
    def blind(data: bytes, media: str, *, pattern: str = r"[0-9]{18}",
              limits: FormLimits = DEFAULT_LIMITS) -> FormReading:
        if media == "image/jpeg":
            return FormReading(False, None, None, (), False, (), None, "too-many-pixels")
        return fake_reader(data, media, pattern=pattern, limits=limits)

    raw = kim_mail(muster86=fake_form(), documents=[("big.jpg", _jpeg(), "image/jpeg")])
    v = analyse(raw, reader=blind)
    assert "KIM26" in codes(v)


def test_value_without_anchor_is_read_again_with_ocr() -> None:
    seen: list[bool] = []

    def barcode_only(data: bytes, media: str, *, pattern: str = r"[0-9]{18}",
                     limits: FormLimits = DEFAULT_LIMITS) -> FormReading:
        seen.append(limits.ocr)
        if b"Befundbericht" not in data and fake_reader(data, media).is_muster86:
            return fake_reader(data, media)
        if not limits.ocr:  # the barcode is there, the anchor words are not (yet)
            return FormReading(False, None, None, ("400000000482041297",), False, (), None,
                               "no-anchor")
        return FormReading(True, "400000000482041297", "barcode", ("400000000482041297",),
                           True, ("Sachsen",), None, "ok")

    raw = kim_mail(muster86=fake_form(), earztbrief=False)
    v = analyse(raw, reader=barcode_only)
    assert seen == [True, False, True]
    assert "KIM10" in codes(v)
