"""The PDFium text layer (``kimmail.muster86.pdftext``): text, page count, invisible
text and raster images (nested form XObjects included), hostile pages, the lock."""

from __future__ import annotations

import threading
import zlib

import pytest
from fpdf import FPDF
from fpdf.enums import TextMode
from kimfixtures.mails import befundbericht_pdf, kim_mail, signature_report_pdf
from kimfixtures.muster86 import muster86_pdf

from kimmail import analyse
from kimmail.muster86 import FormLimits, pdf_text, read_form
from kimmail.muster86 import pdftext as pdftext_module
from kimmail.muster86.pdftext import PDFIUM_LOCK, PdfTextLayer, text_layer
from kimmail.roles import pdf_intact

AZ = "400000000482041289"
PDF = "application/pdf"
NO_OCR = FormLimits(ocr=False)


def _raw_pdf(content: bytes, extra: list[bytes], resources: bytes) -> bytes:
    """One A4 page drawing ``content`` with ``resources``; ``extra`` are objects 5, 6, …
    (object 4 is the page's content stream)."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources " + resources + b" >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        *extra,
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objs) + 1, xref)
    return bytes(out)


_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _form_xobject(inner: bytes, resources: bytes) -> bytes:
    return (b"<< /Type /XObject /Subtype /Form /BBox [0 0 595 842] /Resources " + resources
            + b" /Length %d >>\nstream\n" % len(inner) + inner + b"\nendstream")


def _nested_form_pdf(inner: bytes, inner_resources: bytes, extra: list[bytes]) -> bytes:
    """The page draws form XObject 5, which draws ``inner``."""
    return _raw_pdf(
        b"q /Fm0 Do Q",
        [_form_xobject(inner, inner_resources), *extra],
        b"<< /XObject << /Fm0 5 0 R >> >>",
    )


def _gray_image_xobject() -> bytes:
    pixels = zlib.compress(bytes([0, 255] * 8))
    return (b"<< /Type /XObject /Subtype /Image /Width 4 /Height 4 /ColorSpace /DeviceGray"
            b" /BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n"
            % len(pixels) + pixels + b"\nendstream")


def _text_lines_pdf(lines: list[str], mode: TextMode = TextMode.FILL) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.text_mode = mode
    for i, line in enumerate(lines):
        pdf.text(20, 30 + 8 * i, line)
    return bytes(pdf.output())


def test_text_page_count_and_flags_of_the_fixtures() -> None:
    layer = text_layer(muster86_pdf())
    assert layer.parsed and layer.page_count == 1
    assert f"##{AZ}" in layer.pages[0]
    assert "\r" not in layer.pages[0]  # PDFium's CRLF line ends are normalised
    assert (layer.scanner_ocr, layer.images) == (False, (False,))
    assert text_layer(muster86_pdf(barcode=True)).images == (True,)  # the barcode image
    scan = text_layer(muster86_pdf(text_layer=False))
    assert (scan.pages, scan.images, scan.page_count) == (("",), (True,), 1)


def test_only_max_pages_are_examined_but_all_are_counted() -> None:
    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for i in range(5):
        pdf.add_page()
        pdf.text(20, 30, f"Seite {i + 1}")
    layer = text_layer(bytes(pdf.output()), 2)
    assert layer.page_count == 5
    assert [p.strip() for p in layer.pages] == ["Seite 1", "Seite 2"]
    assert len(layer.images) == 2


def test_unreadable_pdfs_are_not_parsed() -> None:
    encrypted = FPDF()
    encrypted.set_encryption(owner_password="owner", user_password="geheim")
    encrypted.add_page()
    encrypted.set_font("helvetica", size=11)
    encrypted.text(20, 30, f"##{AZ}")
    for data in (b"", b"%PDF-1.7\ngarbage", muster86_pdf()[:500], bytes(encrypted.output())):
        assert text_layer(data) == PdfTextLayer((), False, False)
        assert pdf_text(data) is None
        assert not pdf_intact(data)


@pytest.mark.parametrize("mode", [TextMode.INVISIBLE, TextMode.CLIP])
def test_invisible_render_modes_mark_a_scanner_layer(mode: TextMode) -> None:
    data = _text_lines_pdf(["Weiterleitungsbogen", f"##{AZ}"], mode)
    layer = text_layer(data)
    assert layer.scanner_ocr
    assert f"##{AZ}" in layer.pages[0]  # the text is there, it is just not trusted alone
    assert not text_layer(_text_lines_pdf(["Weiterleitungsbogen", f"##{AZ}"])).scanner_ocr


def test_invisible_text_inside_a_form_xobject() -> None:
    inner = b"BT /F1 12 Tf 3 Tr 50 700 Td (##" + AZ.encode() + b") Tj ET"
    data = _nested_form_pdf(inner, b"<< /Font << /F1 6 0 R >> >>", [_FONT])
    layer = text_layer(data)
    assert AZ in layer.pages[0]
    assert layer.scanner_ocr
    assert layer.images == (False,)


def test_image_inside_a_form_xobject() -> None:
    data = _nested_form_pdf(b"q 100 0 0 100 50 50 cm /Im0 Do Q",
                            b"<< /XObject << /Im0 6 0 R >> >>", [_gray_image_xobject()])
    layer = text_layer(data)
    assert layer.images == (True,)
    assert not layer.scanner_ocr


def test_inline_image_is_an_image() -> None:
    inline = b"q 100 0 0 100 50 50 cm BI /W 2 /H 2 /CS /G /BPC 8 ID \x00\xff\xff\x00 EI Q"
    assert text_layer(_raw_pdf(inline, [], b"<< >>")).images == (True,)


def test_a_page_with_too_many_objects_counts_as_image_and_invisible_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _text_lines_pdf([f"Zeile {i}" for i in range(12)])
    assert text_layer(data).images == (False,)
    text_layer.cache_clear()
    monkeypatch.setattr(pdftext_module, "_MAX_OBJECTS", 5)
    layer = text_layer(data)
    assert (layer.images, layer.scanner_ocr) == ((True,), True)
    text_layer.cache_clear()


def test_forms_nested_too_deep_count_as_image_and_invisible_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _nested_form_pdf(b"BT /F1 12 Tf 50 700 Td (Text) Tj ET",
                            b"<< /Font << /F1 6 0 R >> >>", [_FONT])
    assert text_layer(data).images == (False,)
    text_layer.cache_clear()
    monkeypatch.setattr(pdftext_module, "_MAX_FORM_DEPTH", 0)
    assert text_layer(data).images == (True,)
    text_layer.cache_clear()


def test_text_outside_the_page_box_is_not_extracted() -> None:
    content = (b"BT /F1 12 Tf 50 700 Td (Sichtbar) Tj ET "
               b"BT /F1 12 Tf 50 2000 Td (##" + AZ.encode() + b") Tj ET")
    layer = text_layer(_raw_pdf(content, [_FONT], b"<< /Font << /F1 5 0 R >> >>"))
    assert "Sichtbar" in layer.pages[0]
    assert AZ not in layer.pages[0]


def test_pdfium_calls_hold_the_lock() -> None:
    data = befundbericht_pdf() + b"\n%lock test\n"  # not in the cache
    done = threading.Event()

    def worker() -> None:
        text_layer(data)
        done.set()

    with PDFIUM_LOCK:
        thread = threading.Thread(target=worker)
        thread.start()
        assert not done.wait(0.3)  # blocked on the lock
    assert done.wait(5.0)
    thread.join()


def test_intact_and_notice_through_the_text_layer() -> None:
    assert pdf_intact(muster86_pdf())
    assert not pdf_intact(muster86_pdf()[:-200])  # no %%EOF at the end
    text = pdf_text(signature_report_pdf())
    assert text is not None and text.startswith("Signaturprüfbericht")


def test_mail_with_pdfium_text_layers_is_accepted() -> None:
    v = analyse(kim_mail(muster86=muster86_pdf(AZ)))
    assert (v.verdict, v.aktenzeichen, v.aktenzeichen_source) == ("accepted", AZ, "pdf-text")
    r = read_form(muster86_pdf(AZ), PDF, limits=NO_OCR)
    assert (r.md_names, r.kvnr) == (("Sachsen",), "A123456780")


# -- the document held open for the barcode pass ------------------------------------------


def _count_opens(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    opened: list[int] = []
    real = pdftext_module.pdfium.PdfDocument

    def counting(data: object, *args: object, **kwargs: object) -> object:
        opened.append(1)
        return real(data, *args, **kwargs)

    monkeypatch.setattr(pdftext_module.pdfium, "PdfDocument", counting)
    return opened


def test_barcode_pass_renders_the_page_the_text_layer_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kimmail.muster86.barcode import pdf_page_barcode_texts  # noqa: PLC0415

    data = muster86_pdf(barcode=True) + b"\n%held\n"
    fresh = pdf_page_barcode_texts(bytes(data), 0, dpi=150, max_pixels=60_000_000)
    opened = _count_opens(monkeypatch)
    text_layer(data)
    assert len(opened) == 1
    assert pdf_page_barcode_texts(data, 0, dpi=150, max_pixels=60_000_000) == fresh == [AZ]
    assert pdf_page_barcode_texts(data, 1, dpi=150, max_pixels=60_000_000) is None
    assert len(opened) == 1  # no second parse of the same bytes
    # equal bytes in another object are not taken for the held ones
    assert pdf_page_barcode_texts(bytes(bytearray(data)), 0, dpi=150,
                                  max_pixels=60_000_000) == fresh
    assert len(opened) == 2
    pdftext_module.release_held()
    assert pdftext_module._held == []
    text_layer.cache_clear()


def test_nothing_stays_open_after_read_form_and_analyse() -> None:
    text_layer.cache_clear()
    read_form(muster86_pdf(AZ), PDF, limits=NO_OCR)
    assert pdftext_module._held == []
    text_layer.cache_clear()
    # the last PDF of this mail is a client notice: no form reader runs on it
    analyse(kim_mail(client_notice=True))
    assert pdftext_module._held == []
    text_layer(befundbericht_pdf())  # a text layer read on its own holds its document
    assert len(pdftext_module._held) == 1
    pdftext_module.release_held()
    text_layer.cache_clear()
