"""Muster 86 reader without OCR: text layer, barcodes, fields, hostile input."""

from __future__ import annotations

import io

import pytest
from fpdf import FPDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kimfixtures.muster86 import muster86_pdf, muster86_scan
from PIL import Image

from kimmail.muster86 import (
    FormLimits,
    FormReading,
    aktenzeichen_in,
    anchors_in,
    is_form_text,
    kvnr_in,
    md_names_in,
    pdf_text,
    read_form,
)
from kimmail.muster86.pdftext import text_layer

AZ = "400000000482041289"
PDF = "application/pdf"
NO_OCR = FormLimits(ocr=False)
MEDIA = ("application/pdf", "image/jpeg", "image/png", "image/tiff")


def _letter_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("DejaVu", "", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    pdf.set_font("DejaVu", size=11)
    lines = [
        "Praxis Dr. med. Beispiel, Am Musterpark 3, 09111 Chemnitz",
        "Arztbrief",
        "Sehr geehrte Kolleginnen und Kollegen,",
        "wir berichten über Frau Erika Musterfrau, geb. 01.02.1970, KVNR A123456780.",
        "Die mit dem Weiterleitungsbogen angeforderten Befunde liegen bei.",
        "Diagnose: Z00.0 Allgemeinuntersuchung. Therapie: keine.",
        "Mit freundlichen kollegialen Grüßen",
    ]
    for i, line in enumerate(lines):
        pdf.text(20, 30 + i * 8, line)
    return bytes(pdf.output())


# -- text layer ---------------------------------------------------------------------------


def test_text_layer_is_the_source() -> None:
    r = read_form(muster86_pdf(), PDF)
    assert r == FormReading(
        is_muster86=True,
        aktenzeichen=AZ,
        source="pdf-text",
        candidates=(AZ,),
        confident=True,
        md_names=("Sachsen",),
        kvnr="A123456780",
        detail="ok",
    )


def test_text_layer_with_agreeing_barcode() -> None:
    r = read_form(muster86_pdf(barcode=True), PDF, limits=NO_OCR)
    assert (r.aktenzeichen, r.source, r.candidates) == (AZ, "pdf-text", (AZ,))


def test_other_pattern() -> None:
    r = read_form(muster86_pdf("MI-2024-000731"), PDF, pattern=r"MI-[0-9]{4}-[0-9]{6}")
    assert r.aktenzeichen == "MI-2024-000731"


def test_pattern_not_found_gives_no_value() -> None:
    r = read_form(muster86_pdf("12345"), PDF, limits=NO_OCR)
    assert r.is_muster86
    assert (r.aktenzeichen, r.confident, r.candidates) == (None, False, ())
    assert r.detail == "no-value"


def test_wrong_md_is_reported() -> None:
    r = read_form(muster86_pdf(md="Niedersachsen"), PDF)
    assert r.md_names == ("Niedersachsen",)
    assert r.aktenzeichen == AZ


@pytest.mark.parametrize("md", ["Sachsen-Anhalt", "Nordrhein", "Bayern", "Thüringen"])
def test_md_names_from_text_layer(md: str) -> None:
    assert read_form(muster86_pdf(md=md), PDF, limits=NO_OCR).md_names == (md,)


def test_kvnr_with_bad_check_digit_is_dropped() -> None:
    r = read_form(muster86_pdf(kvnr="A123456781"), PDF, limits=NO_OCR)
    assert r.kvnr is None
    assert r.aktenzeichen == AZ


def test_no_kvnr() -> None:
    assert read_form(muster86_pdf(kvnr=None), PDF, limits=NO_OCR).kvnr is None


def test_plain_letter_is_not_the_form() -> None:
    data = _letter_pdf()
    r = read_form(data, PDF)
    assert not r.is_muster86
    assert r.aktenzeichen is None
    assert r.detail == "no-anchor"
    text = pdf_text(data)
    assert text is not None and "Arztbrief" in text


def _captioned_scan_pdf() -> bytes:
    """A scanner's page: a visible caption line (more than a few characters of text)
    over the scanned Muster 86."""
    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("DejaVu", "", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    pdf.set_font("DejaVu", size=9)
    pdf.text(10, 8, "Scan 2026-03-02 08:14 Gerät KX-2100 Seite 1 von 1")
    scan = muster86_scan(barcode=True, dpi=200, rotation=0)
    pdf.image(io.BytesIO(scan), x=0, y=12, w=200)
    return bytes(pdf.output())


def test_a_page_with_text_and_no_image_is_not_rendered() -> None:
    # A page that draws no raster image cannot hold a scanned form: its text decides.
    assert text_layer(_letter_pdf()).images == (False,)
    assert text_layer(muster86_pdf()).images == (False,)  # the form drawn as vectors
    assert text_layer(_captioned_scan_pdf()).images == (True,)


def test_scan_behind_a_caption_is_still_read() -> None:
    r = read_form(_captioned_scan_pdf(), PDF, limits=NO_OCR)
    assert (r.aktenzeichen, r.source) == (AZ, "barcode")


def test_pdf_text() -> None:
    text = pdf_text(muster86_pdf())
    assert text is not None and f"##{AZ}" in text
    assert pdf_text(muster86_pdf(text_layer=False)) is None
    assert pdf_text(b"%PDF-1.7\ngarbage") is None
    assert pdf_text(b"") is None


# -- barcode ------------------------------------------------------------------------------


def test_barcode_on_image_only_pdf_without_ocr() -> None:
    r = read_form(muster86_pdf(barcode=True, text_layer=False), PDF, limits=NO_OCR)
    assert (r.aktenzeichen, r.source, r.confident, r.candidates) == (AZ, "barcode", True, (AZ,))
    # the anchor words cannot be seen without OCR: it is not called the form
    assert not r.is_muster86
    assert r.detail == "no-anchor"


def test_barcode_on_image_without_ocr() -> None:
    r = read_form(muster86_scan(barcode=True, dpi=200, rotation=90), "image/jpeg", limits=NO_OCR)
    assert (r.aktenzeichen, r.source) == (AZ, "barcode")


def test_text_and_barcode_disagree() -> None:
    other = "400000000482041298"
    r = read_form(muster86_pdf(barcode_value=other), PDF)
    assert r.is_muster86
    assert set(r.candidates) == {AZ, other}
    assert (r.aktenzeichen, r.source, r.confident) == (None, None, False)
    assert r.detail == "conflict"


# -- hostile input ------------------------------------------------------------------------


def test_truncated_pdf() -> None:
    data = muster86_pdf()
    for cut in (10, len(data) // 3, len(data) // 2):
        r = read_form(data[:cut], PDF)
        assert not r.is_muster86
        assert r.aktenzeichen is None


def test_garbage() -> None:
    for media in MEDIA:
        r = read_form(b"\x00\xffnot a document" * 50, media)
        assert not r.is_muster86
        assert r.detail in {"unreadable-pdf", "unreadable-image"}


def test_image_claimed_as_other_format() -> None:
    png = muster86_scan(fmt="png", dpi=150)
    assert read_form(png, "image/jpeg", limits=NO_OCR).detail == "unreadable-image"


def test_unsupported_media() -> None:
    assert read_form(b"GIF89a", "image/gif").detail == "unsupported-media"


def test_huge_pixel_image() -> None:
    # 20000 x 20000 white pixels compress to a few hundred kB of PNG
    buf = io.BytesIO()
    Image.new("1", (20_000, 20_000), 1).save(buf, format="PNG")
    r = read_form(buf.getvalue(), "image/png")
    assert (r.is_muster86, r.detail) == (False, "too-many-pixels")


def test_pixel_limit_is_a_parameter() -> None:
    scan = muster86_scan(dpi=150)
    r = read_form(scan, "image/jpeg", limits=FormLimits(max_pixels=1_000_000))
    assert r.detail == "too-many-pixels"
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # the process-wide limit is untouched


def test_invalid_pattern_is_a_configuration_error() -> None:
    with pytest.raises(Exception, match=r"unterminated|missing|unbalanced"):
        read_form(muster86_pdf(), PDF, pattern="([0-9]")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=4096), media=st.sampled_from(MEDIA))
def test_random_bytes_never_raise(data: bytes, media: str) -> None:
    r = read_form(data, media, limits=NO_OCR)
    assert isinstance(r, FormReading)
    assert r.aktenzeichen is None


_PDF = muster86_pdf(barcode=True)
_PNG = muster86_scan(fmt="png", dpi=100)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.sampled_from(["pdf", "png"]),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=8),
)
def test_damaged_documents_never_raise(
    which: str, cut: float, flips: list[tuple[float, int]]
) -> None:
    base = bytearray(_PDF if which == "pdf" else _PNG)
    for pos, value in flips:
        base[int(pos * (len(base) - 1))] = value
    data = bytes(base[: max(1, int(len(base) * cut))])
    r = read_form(data, PDF if which == "pdf" else "image/png", limits=NO_OCR)
    assert isinstance(r, FormReading)
    if r.aktenzeichen is not None:
        assert r.aktenzeichen == AZ  # damage may lose the value, never change it


# -- fields -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("MD Sachsen\nDokumentenlogistik-Zentrum\nPostfach 1141\n09070 Chemnitz", ("Sachsen",)),
        ("Medizinischer Dienst Niedersachsen\nMIMA\n30517 Hannover", ("Niedersachsen",)),
        ("Medizinischer Dienst Sachsen-Anhalt", ("Sachsen-Anhalt",)),
        ("Medizinischer Dienst Sachsen - Anhalt", ("Sachsen-Anhalt",)),
        ("MD Sachsen\nAnhalt", ("Sachsen-Anhalt",)),
        ("MDK Nordrhein", ("Nordrhein",)),
        ("MD Nord", ("Nord",)),
        ("Medizinischer Dienst Thuringen", ("Thüringen",)),
        ("Medizinischer Dienst Baden Württemberg", ("Baden-Württemberg",)),
        ("MD- Sachsen .", ("Sachsen",)),
        ("Dokumentenlogistik-Zentrum Postfach 1141 09070 Chemnitz", ("Sachsen",)),
        ("Weiterleitungsbogen für angeforderte Befunde an den MD 86", ()),
        ("AOK Sachsen, Leipzig", ()),
        ("MD Sachs en .", ()),
        ("MD- Sachscn", ()),
    ],
)
def test_md_names(text: str, names: tuple[str, ...]) -> None:
    assert md_names_in(text) == names


def test_aktenzeichen_rules() -> None:
    p = r"[0-9]{18}"
    assert aktenzeichen_in(f"##{AZ}", p) == (AZ,)
    assert aktenzeichen_in(f"## {AZ}", p) == (AZ,)
    assert aktenzeichen_in(f"Aktenzeichen {AZ} Telefon", p) == (AZ,)
    assert aktenzeichen_in(f"#4{AZ}", p) == ()  # a "#" misread as 4: no value
    assert aktenzeichen_in(f"##{AZ}9", p) == ()
    assert aktenzeichen_in(f"##{AZ} and ##{AZ}", p) == (AZ,)
    # after "##" wins over standalone numbers elsewhere
    assert aktenzeichen_in(f"123456789012345678 ##{AZ}", p) == (AZ,)


def test_anchors_tolerate_ocr_noise() -> None:
    noisy = "Weiterleitunqsbogen fur angeforderte Befunde ... Aktenzeichen Mitteilungsmanaqement"
    assert is_form_text(anchors_in(noisy))
    # a letter that mentions the form is not the form
    assert not is_form_text(anchors_in("die mit dem Weiterleitungsbogen (Muster 86) ..."))
    assert not is_form_text(anchors_in("zufälliger Text ohne Bezug"))


def test_kvnr() -> None:
    assert kvnr_in("KV-Nummer A123456780") == "A123456780"
    assert kvnr_in("KV-Nummer A 123456780") == "A123456780"
    assert kvnr_in("KV-Nummer A123456781") is None
    assert kvnr_in("XA123456780") is None


# -- page and layer provenance ------------------------------------------------------------


def _two_pages(first: bytes, second: bytes) -> bytes:
    from pypdf import PdfReader, PdfWriter  # noqa: PLC0415

    writer = PdfWriter()
    for data in (first, second):
        for page in PdfReader(io.BytesIO(data)).pages:
            writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_md_is_read_from_the_form_page_only() -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.text(20, 30, "Kopie an: MD Bayern, Postfach 20 04 53, 80004 Muenchen")
    r = read_form(_two_pages(muster86_pdf(), bytes(pdf.output())), PDF, limits=NO_OCR)
    assert r.md_names == ("Sachsen",)
    assert r.aktenzeichen == AZ


def test_invisible_text_layer_is_not_trusted_alone() -> None:
    # a scanner's OCR layer (text render mode 3) may have misread digits
    from fpdf.enums import TextMode  # noqa: PLC0415

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.text_mode = TextMode.INVISIBLE
    lines = [
        "Weiterleitungsbogen fuer angeforderte Befunde an den MD",
        "Aktenzeichen Mitteilungsmanagement (MiMa)",
        f"##{AZ}",
        "MD Sachsen",
        "Daten des Versicherten",
        "Anforderungsdatum",
    ]
    for i, line in enumerate(lines):
        pdf.text(20, 30 + 8 * i, line)
    r = read_form(bytes(pdf.output()), PDF, limits=NO_OCR)
    assert r.is_muster86
    assert r.candidates == (AZ,)
    assert (r.aktenzeichen, r.confident) == (None, False)
    assert r.md_names == ("Sachsen",)


def test_docstring_examples() -> None:
    import doctest  # noqa: PLC0415

    from kimmail.muster86 import fields  # noqa: PLC0415

    assert doctest.testmod(fields).failed == 0


def test_seed_spelling_of_the_niedersachsen_print() -> None:
    # the MD Niedersachsen example in seed 000 prints "Mittelungsmanagement (MIMa)"
    text = (
        "Weiterleitungsbogen für angeforderte Befunde an den MD 86\n"
        "Aktenzeichen Mittelungsmanagement (MIMa)\nMedizinischer Dienst Niedersachsen\n"
        "MIMA\n30517 Hannover\nDaten des Versicherten\nAnforderungsdatum"
    )
    assert is_form_text(anchors_in(text))
    assert md_names_in(text) == ("Niedersachsen",)
