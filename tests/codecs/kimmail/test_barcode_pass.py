"""The barcode cross-check of a born-digital page (``pdf_page_barcode_texts``).

It must find what ``read_barcode_texts(render_page(...))`` finds, wherever and however
the code is drawn (image, vector graphics, light on dark), so a barcode that contradicts
the text layer still gives a conflict.
"""

from __future__ import annotations

import numpy as np
import pytest
import zxingcpp
from fpdf import FPDF
from kimfixtures.mails import kim_mail
from kimfixtures.muster86 import muster86_pdf
from PIL import Image

from kimmail import analyse
from kimmail.muster86 import FormLimits, TooManyPixelsError, UnreadablePdfError, read_form
from kimmail.muster86 import barcode as barcode_module
from kimmail.muster86.barcode import pdf_page_barcode_texts, read_barcode_texts
from kimmail.muster86.render import render_page

AZ = "400000000482041289"
OTHER = "400000000482041298"
PDF = "application/pdf"
F = zxingcpp.BarcodeFormat
_MAX = FormLimits().max_pixels

_FORM_LINES = [
    "Weiterleitungsbogen fuer angeforderte Befunde an den MD",
    "Aktenzeichen Mitteilungsmanagement (MiMa)",
    f"##{AZ}",
    "MD Sachsen",
    "Dokumentenlogistik-Zentrum, Postfach 1141, 09070 Chemnitz",
    "Daten des Versicherten: Musterfrau, Erika, KV-Nummer A123456780",
    "Daten des Arztes/Leistungserbringers: Praxis Dr. med. Beispiel",
    "Anforderungsdatum 12.02.2024",
]


def _modules(value: str, fmt: zxingcpp.BarcodeFormat) -> np.ndarray:
    code = zxingcpp.create_barcode(value, fmt)
    arr = np.asarray(code.to_image(scale=1, add_quiet_zones=True))
    return arr[..., 0] < 128 if arr.ndim == 3 else arr < 128


def _draw_code(pdf: FPDF, value: str, fmt: zxingcpp.BarcodeFormat, *, x: float, y: float,
               module: float, vector: bool, inverted: bool = False) -> None:
    """``value`` as ``fmt`` at (x, y) mm: filled rectangles (``vector``) or an image;
    ``inverted``: light modules on a dark field."""
    dark = _modules(value, fmt)
    linear = dark.shape[0] == 1 or fmt in (F.Code128, F.Code39, F.ITF)
    if linear:
        dark = dark[:1]
    if inverted:
        dark = ~dark
    height = 12.0 if linear else dark.shape[0] * module
    if not vector:
        img = Image.fromarray(np.where(dark, 0, 255).astype(np.uint8))
        pdf.image(img, x=x, y=y, w=dark.shape[1] * module, h=height)
        return
    pdf.set_fill_color(0)
    row_h = height if linear else module
    for r, row in enumerate(dark):
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                pdf.rect(x + start * module, y + r * row_h, (c - start) * module, row_h,
                         style="F")
            else:
                c += 1


def _form(value: str | None = None, fmt: zxingcpp.BarcodeFormat = F.Code128, *,
          module: float = 0.33, vector: bool = True, inverted: bool = False,
          at: tuple[float, float] = (115.0, 60.0)) -> bytes:
    """A born-digital Muster 86 (text layer with ``##AZ``) with an optional barcode of
    ``value`` drawn at ``at`` (mm)."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=10)
    for i, line in enumerate(_FORM_LINES):
        pdf.text(15, 20 + 7 * i, line)
    if value is not None:
        _draw_code(pdf, value, fmt, x=at[0], y=at[1], module=module, vector=vector,
                   inverted=inverted)
    return bytes(pdf.output())


def _rendered(data: bytes, index: int = 0, dpi: int = 150, max_pixels: int = _MAX) -> list[str]:
    page = render_page(data, index, dpi=dpi, max_pixels=max_pixels)
    assert page is not None
    return read_barcode_texts(page, rotated=False)


# -- same texts as the PIL path -----------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        muster86_pdf(barcode=True),
        muster86_pdf(barcode_value=OTHER),
        _form(AZ),
        _form(OTHER, F.QRCode, module=0.5),
        _form(AZ, F.DataMatrix, module=0.5, vector=False, at=(20.0, 250.0)),
        _form(),
    ],
    ids=["image", "image-other", "vector-code128", "vector-qr", "image-datamatrix", "none"],
)
def test_same_texts_as_render_page(data: bytes) -> None:
    texts = pdf_page_barcode_texts(data, 0, dpi=150, max_pixels=_MAX)
    assert texts == _rendered(data)
    assert pdf_page_barcode_texts(data, 0, dpi=150, max_pixels=_MAX,
                                  downscale=False) == texts


def test_resolution_bound_like_render_page() -> None:
    data = muster86_pdf(barcode=True)
    # A4 at 150 dpi is 2.2 MP: a 1.5 MP bound scales the page down, as render_page does
    assert pdf_page_barcode_texts(data, 0, dpi=150, max_pixels=1_500_000) == _rendered(
        data, max_pixels=1_500_000)
    with pytest.raises(TooManyPixelsError):
        pdf_page_barcode_texts(data, 0, dpi=150, max_pixels=100_000)  # < 72 dpi


def test_no_such_page_and_unreadable() -> None:
    assert pdf_page_barcode_texts(muster86_pdf(), 1, dpi=150, max_pixels=_MAX) is None
    for data in (b"", b"%PDF-1.7\ngarbage", muster86_pdf()[:300]):
        with pytest.raises(UnreadablePdfError):
            pdf_page_barcode_texts(data, 0, dpi=150, max_pixels=_MAX)


# -- without zxing's downscaled passes nothing is lost on a clean rendering ---------------


# vector codes are what the pass without downscaling sees (pages without raster images);
# the image variants are extra evidence
_GRID = [
    (fmt, module, vector, inverted)
    for fmt, modules in (
        (F.Code128, (0.33, 0.5, 1.0)),
        (F.ITF, (0.33, 0.5)),
        (F.DataMatrix, (0.5, 2.0, 5.0)),
        (F.QRCode, (0.33, 1.0, 6.0)),
        (F.PDF417, (0.33, 1.0)),
        (F.Aztec, (0.5, 2.0, 7.0)),
    )
    for module in modules
    for vector in (True, False)
    for inverted in ((False, True) if fmt in (F.DataMatrix, F.QRCode, F.Aztec) else (False,))
]


@pytest.mark.slow
@pytest.mark.parametrize(("fmt", "module", "vector", "inverted"), _GRID)
def test_grid_is_read_without_downscaling(
    fmt: zxingcpp.BarcodeFormat, module: float, vector: bool, inverted: bool
) -> None:
    data = _form(OTHER, fmt, module=module, vector=vector, inverted=inverted, at=(5.0, 80.0))
    page = render_page(data, 0, dpi=150)
    assert page is not None
    with_downscale = barcode_module._texts(page, rotated=False, downscale=True)
    assert OTHER in with_downscale  # the grid only holds codes readable at 150 dpi
    assert pdf_page_barcode_texts(data, 0, dpi=150, max_pixels=_MAX,
                                  downscale=False) == with_downscale


# -- the cross-check itself ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "vector", "inverted", "at"),
    [
        (F.Code128, True, False, (115.0, 60.0)),  # bars drawn as vector rectangles
        (F.Code128, True, False, (20.0, 260.0)),  # far from the ## value
        (F.QRCode, True, False, (150.0, 200.0)),
        (F.DataMatrix, False, True, (150.0, 200.0)),  # light on dark, as an image
    ],
    ids=["vector-code128", "vector-code128-bottom", "vector-qr", "inverted-datamatrix"],
)
def test_born_digital_form_with_contradicting_barcode_is_a_conflict(
    fmt: zxingcpp.BarcodeFormat, vector: bool, inverted: bool, at: tuple[float, float]
) -> None:
    data = _form(OTHER, fmt, module=0.5, vector=vector, inverted=inverted, at=at)
    r = read_form(data, PDF)
    assert r.is_muster86
    assert set(r.candidates) == {AZ, OTHER}
    assert (r.aktenzeichen, r.confident, r.detail) == (None, False, "conflict")
    v = analyse(kim_mail(muster86=data))
    assert v.verdict == "quarantined"
    assert v.aktenzeichen is None


def test_born_digital_form_with_agreeing_vector_barcode() -> None:
    r = read_form(_form(AZ), PDF)
    assert (r.aktenzeichen, r.source, r.candidates, r.detail) == (AZ, "pdf-text", (AZ,), "ok")
