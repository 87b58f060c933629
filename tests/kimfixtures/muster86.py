"""KBV-Muster 86 (Weiterleitungsbogen) fixtures: PDFs with or without a text layer, scans.

Everything here is fictitious and deterministic: the same arguments (and ``seed``) give the
same bytes, so a failing OCR case can be reproduced from its parameters alone.

* :func:`muster86_pdf` — one A4 page drawn with fpdf2 (text layer, optional Code128 of the
  Aktenzeichen, or an image-only variant);
* :func:`muster86_scan` — that page rendered with pypdfium2 at ``dpi`` and distorted like a
  scan (rotation, skew, dust/salt-and-pepper noise, blur), as JPEG/PNG/TIFF bytes;
* :func:`muster86_image_pdf` — such a scan wrapped in a PDF without a text layer.

The layout follows the public Muster 86 (MDN 11/2022) as shown in the MD Sachsen guidance:
title, "Deutsche Post / ANTWORT" address block of the MD on the left, "Aktenzeichen
Mitteilungsmanagement (MiMa)" with ``##<Aktenzeichen>`` on the right, then the Krankenkasse,
Versicherter and Arzt blocks and the Anforderungsdatum.
"""

from __future__ import annotations

import datetime as _dt
import io
from pathlib import Path
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import zxingcpp
from fpdf import FPDF
from PIL import Image, ImageFilter

__all__ = [
    "MD_ADDRESSES",
    "muster86_image_pdf",
    "muster86_pdf",
    "muster86_scan",
]

_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FIXED_DATE = _dt.datetime(2024, 3, 1, 9, 0, 0, tzinfo=_dt.UTC)

# Address block lines per MD (fictitious street/Postfach details where not public).  MD
# Sachsen's is the Dokumentenlogistik-Zentrum address printed in its guidance.
MD_ADDRESSES: dict[str, tuple[str, ...]] = {
    "Sachsen": ("MD Sachsen", "Dokumentenlogistik-Zentrum", "Postfach 1141", "09070 Chemnitz"),
    "Niedersachsen": ("Medizinischer Dienst Niedersachsen", "MiMa", "30517 Hannover"),
    "Sachsen-Anhalt": ("Medizinischer Dienst Sachsen-Anhalt", "Postfach 1819", "39008 Magdeburg"),
    "Bayern": ("Medizinischer Dienst Bayern", "Postfach 20 04 53", "80004 München"),
    "Nordrhein": ("Medizinischer Dienst Nordrhein", "Postfach 10 36 42", "40027 Düsseldorf"),
    "Westfalen-Lippe": ("Medizinischer Dienst Westfalen-Lippe", "Postfach 1109", "48001 Münster"),
    "Berlin-Brandenburg": (
        "Medizinischer Dienst Berlin-Brandenburg", "Postfach 3 17", "14403 Potsdam"
    ),
    "Thüringen": ("Medizinischer Dienst Thüringen", "Postfach 10 13", "99403 Weimar"),
}


def _md_address(md: str) -> tuple[str, ...]:
    default = (f"Medizinischer Dienst {md}", "Postfach 10 01", "10001 Musterstadt")
    return MD_ADDRESSES.get(md, default)


def _barcode_image(value: str) -> Image.Image:
    """Code128 of ``value`` as a PIL image (one module = 1 px; fpdf2 scales it)."""
    code = zxingcpp.create_barcode(value, zxingcpp.BarcodeFormat.Code128)
    arr = np.asarray(code.to_image(scale=1, add_quiet_zones=True))
    return Image.fromarray(arr).convert("L")


def _text_pdf(
    aktenzeichen: str,
    md: str,
    kvnr: str | None,
    insured_name: str,
    birth_date: str,
    barcode: bool,
    barcode_value: str | None = None,
) -> bytes:
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_creation_date(_FIXED_DATE)
    pdf.set_title("Muster 86")
    pdf.set_auto_page_break(auto=False)
    pdf.add_font("DejaVu", "", str(_FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(_FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.add_page()

    def text(x: float, y: float, s: str, size: float = 9.0, style: str = "") -> None:
        pdf.set_font("DejaVu", style, size)
        pdf.text(x, y, s)

    def field(x: float, y: float, label: str, value: str, width: float = 80.0) -> None:
        # label small above a rule, value on the rule — like the printed form
        text(x, y, label, 6.5)
        text(x + 1, y + 4.5, value, 9.5)
        pdf.set_line_width(0.15)
        pdf.line(x, y + 5.5, x + width, y + 5.5)

    # title and form number
    text(15, 16, "Weiterleitungsbogen für angeforderte Befunde an den MD", 13, "B")
    text(184, 17, "86", 20, "B")
    text(15, 22, "Hinweis an den Arzt: Bitte verwenden Sie den Weiterleitungsbogen als erste "
         "Seite im Briefumschlag für Ihre Antwort!", 7.5)

    # MD address block (window-envelope position)
    text(20, 38, "Deutsche Post", 7.5)
    text(20, 43, "ANTWORT", 10, "B")
    for i, line in enumerate(_md_address(md)):
        text(20, 52 + i * 5.5, line, 11)

    # Aktenzeichen Mitteilungsmanagement
    pdf.set_line_width(0.3)
    pdf.rect(112, 32, 84, 40 if barcode else 24)
    text(115, 38, "Aktenzeichen Mitteilungsmanagement (MiMa)", 8, "B")
    # a plain sans bold (no dotted/slashed zero), as the Krankenkassen print it
    text(115, 49, f"##{aktenzeichen}", 15, "B")
    if barcode:
        img = _barcode_image(barcode_value or aktenzeichen)
        # ~0.33 mm per module: readable at 150 dpi and above
        w_mm = img.width * 0.33
        pdf.image(img, x=115, y=53, w=min(w_mm, 78), h=14)

    # Krankenkasse
    y = 84.0
    text(15, y, "Krankenkasse", 9.5, "B")
    field(15, y + 4, "Name der Krankenkasse", "BKK Beispielwerke")
    field(15, y + 12, "Straße", "Fiktivweg 12")
    field(15, y + 20, "PLZ  Ort", "04109 Leipzig")
    field(15, y + 28, "Leistungsbereich", "Krankenhaus")
    text(110, y, "Ansprechpartner Krankenkasse", 9.5, "B")
    field(110, y + 4, "Vorname, Name", "Max Beispiel")
    field(110, y + 12, "Telefon", "0341 555 0100")
    field(110, y + 20, "Fax", "0341 555 0199")
    field(110, y + 28, "E-Mail", "mima@bkk-beispielwerke.example")

    text(15, 128, "Sehr geehrte Damen und Herren,", 9.5)
    text(15, 133, "anliegend übermitteln wir Ihnen die für den Versicherten von der Krankenkasse "
         "angeforderten Befunde in Kopie.", 9.5)

    # Versicherter
    y = 144.0
    text(15, y, "Daten des Versicherten", 9.5, "B")
    field(15, y + 4, "Name, Vorname", insured_name, 110)
    field(135, y + 4, "Geburtsdatum", birth_date, 45)
    field(15, y + 12, "Straße", "Beispielstraße 7", 110)
    field(15, y + 20, "PLZ  Ort", "01067 Dresden", 110)
    field(15, y + 28, "KV-Nummer", kvnr or "", 60)
    field(90, y + 28, "Aktenzeichen Krankenkasse", "KK-24-0731", 60)

    # Arzt / Leistungserbringer
    y = 188.0
    text(15, y, "Daten des Arztes/Leistungserbringers", 9.5, "B")
    field(15, y + 4, "Name, Vorname / Firma", "Praxis Dr. med. Beispiel", 110)
    field(15, y + 12, "Straße", "Am Musterpark 3", 110)
    field(15, y + 20, "PLZ  Ort", "09111 Chemnitz", 110)
    field(15, y + 28, "Arzt-Nummer (LANR)", "123456601", 60)
    field(90, y + 28, "IK des Leistungserbringers", "260326822", 60)
    field(15, y + 38, "Anforderungsdatum", "12.02.2024", 45)

    text(15, 287, "Muster 86 (MDN 11/2022)", 7)
    return bytes(pdf.output())


def _render_gray(pdf_bytes: bytes, dpi: int) -> Image.Image:
    doc = pdfium.PdfDocument(pdf_bytes)
    try:
        page = doc[0]
        bitmap = page.render(scale=dpi / 72.0, grayscale=True)
        img: Image.Image = bitmap.to_pil().convert("L")
        page.close()
    finally:
        doc.close()
    return img


def _image_pdf(img: Image.Image, dpi: int, *, png: bool = False) -> bytes:
    """A PDF whose only content is ``img`` filling one page of its physical size."""
    w_mm = img.width * 25.4 / dpi
    h_mm = img.height * 25.4 / dpi
    pdf = FPDF(unit="mm", format=(w_mm, h_mm))
    pdf.set_creation_date(_FIXED_DATE)
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    buf = io.BytesIO()
    if png:
        img.save(buf, format="PNG")
    else:
        img.convert("L").save(buf, format="JPEG", quality=85)
    buf.seek(0)
    pdf.image(buf, x=0, y=0, w=w_mm, h=h_mm)
    return bytes(pdf.output())


def muster86_pdf(
    aktenzeichen: str = "400000000482041289",
    *,
    md: str = "Sachsen",
    kvnr: str | None = "A123456780",
    insured_name: str = "Musterfrau, Erika",
    birth_date: str = "01.02.1970",
    barcode: bool = False,
    text_layer: bool = True,
    barcode_value: str | None = None,
) -> bytes:
    """One-page A4 Muster 86 as PDF bytes.

    ``barcode`` adds a Code128 of ``aktenzeichen`` under the printed ``##`` value;
    ``text_layer=False`` renders the page at 300 dpi and returns a PDF holding only that
    bitmap (what a scanner without OCR produces).  ``barcode_value`` puts another value
    than the printed one into the barcode (a conflict the reader must report).
    """
    data = _text_pdf(
        aktenzeichen, md, kvnr, insured_name, birth_date, barcode or barcode_value is not None,
        barcode_value,
    )
    if text_layer:
        return data
    return _image_pdf(_render_gray(data, 300), 300, png=True)


def _distort(
    img: Image.Image, *, rotation: int, skew: float, noise: float, seed: int
) -> Image.Image:
    rng = np.random.default_rng(seed)
    if noise > 0:
        arr = np.asarray(img, dtype=np.uint8).copy()
        h, w = arr.shape
        # salt and pepper: a fraction of pixels flipped to black/white
        n = int(h * w * 0.004 * noise)
        ys = rng.integers(0, h, n)
        xs = rng.integers(0, w, n)
        arr[ys, xs] = np.where(rng.random(n) < 0.5, 0, 255).astype(np.uint8)
        # dust: small dark specks of 1-3 px radius
        for _ in range(int(400 * noise)):
            cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
            r = int(rng.integers(1, 4))
            arr[max(cy - r, 0) : cy + r, max(cx - r, 0) : cx + r] = int(rng.integers(0, 90))
        # a faint grey background like recycled paper
        bg = rng.normal(0, 6 * noise, size=arr.shape)
        arr = np.clip(arr.astype(np.float32) - np.abs(bg), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr).filter(ImageFilter.GaussianBlur(radius=0.4 + 0.5 * noise))
    if skew:
        img = img.rotate(skew, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    if rotation % 360:
        # PIL rotates counter-clockwise; a page fed "rotated 90" reads clockwise
        transpose = {
            90: Image.Transpose.ROTATE_270,
            180: Image.Transpose.ROTATE_180,
            270: Image.Transpose.ROTATE_90,
        }[rotation % 360]
        img = img.transpose(transpose)
    return img


def _scan_image(
    aktenzeichen: str,
    md: str,
    kvnr: str | None,
    rotation: int,
    skew: float,
    dpi: int,
    noise: float,
    seed: int,
    barcode: bool,
) -> Image.Image:
    if rotation % 90 or not -4.0 <= skew <= 4.0 or not 100 <= dpi <= 600 or not 0 <= noise <= 1:
        raise ValueError("rotation must be 0/90/180/270, skew within ±4°, dpi 100–600, noise 0–1")
    page = _render_gray(_text_pdf(aktenzeichen, md, kvnr, "Musterfrau, Erika", "01.02.1970",
                                  barcode), dpi)
    return _distort(page, rotation=rotation, skew=skew, noise=noise, seed=seed)


def muster86_scan(
    aktenzeichen: str = "400000000482041289",
    *,
    md: str = "Sachsen",
    kvnr: str | None = "A123456780",
    rotation: int = 0,
    skew: float = 0.0,
    dpi: int = 300,
    noise: float = 0.0,
    fmt: str = "jpeg",
    seed: int = 0,
    barcode: bool = False,
) -> bytes:
    """A scanned Muster 86 as image bytes (``fmt`` "jpeg", "png" or "tiff").

    The page is rendered at ``dpi``; ``noise`` (0..1) adds salt-and-pepper, dust specks, a
    grey paper tone and a slight blur; ``skew`` (degrees, ±4) turns it counter-clockwise;
    ``rotation`` (0/90/180/270) turns it clockwise.  Deterministic for a given ``seed``.
    The image carries its dpi in the file metadata, as scanners write it.
    """
    img = _scan_image(aktenzeichen, md, kvnr, rotation, skew, dpi, noise, seed, barcode)
    buf = io.BytesIO()
    kwargs: dict[str, Any] = {"dpi": (dpi, dpi)}
    fmt_l = fmt.lower()
    if fmt_l in {"jpeg", "jpg"}:
        img.save(buf, format="JPEG", quality=80, **kwargs)
    elif fmt_l == "png":
        img.save(buf, format="PNG", **kwargs)
    elif fmt_l in {"tiff", "tif"}:
        img.save(buf, format="TIFF", compression="tiff_lzw", **kwargs)
    else:
        raise ValueError(f"unknown fmt {fmt!r}")
    return buf.getvalue()


def muster86_image_pdf(
    aktenzeichen: str = "400000000482041289",
    *,
    md: str = "Sachsen",
    kvnr: str | None = "A123456780",
    rotation: int = 0,
    skew: float = 0.0,
    dpi: int = 300,
    noise: float = 0.0,
    seed: int = 0,
    barcode: bool = False,
) -> bytes:
    """A scan as :func:`muster86_scan` makes it, wrapped (JPEG) in a PDF without text layer."""
    img = _scan_image(aktenzeichen, md, kvnr, rotation, skew, dpi, noise, seed, barcode)
    return _image_pdf(img, dpi)
