"""Barcodes on a rendered page or scan (zxing-cpp).

Some Krankenkassen print the Aktenzeichen as a linear barcode (Code128 and the like) or a
2D code beside the ``##`` value.  A barcode carries its own check, so a decoded value is
trusted as much as a text layer; the caller still compares it with the other sources.

:func:`pdf_page_barcode_texts` is the cross-check of a PDF page that is only searched for
barcodes (a born-digital form, or OCR off): it renders the page with PDFium and hands
the bitmap to zxing-cpp as it is, without the two copies a PIL image costs (2.2 MB each
for A4 at 150 dpi).  On a page that draws no raster image (``downscale=False``: only
text and vector graphics, so the rendering is clean) it also skips zxing's downscaled
passes, which exist for large codes in camera pictures and scans: every code the
downscaled passes found in the test grid (Code128, ITF, DataMatrix, QR, PDF417, Aztec as
vector rectangles, 0.33 to 7 mm modules, 2D codes also light on dark) is found without
them (``tests/codecs/kimmail/test_barcode_pass.py``), and the pass costs a quarter less.
Inverted (light on dark) codes are still looked for, and in every format as before.
"""

from __future__ import annotations

from typing import Any

import pypdfium2 as pdfium
import zxingcpp
from PIL import Image

from .errors import UnreadablePdfError
from .pdftext import pdfium_page
from .render import render_scale

__all__ = ["pdf_page_barcode_texts", "read_barcode_texts"]

_FORMATS = zxingcpp.BarcodeFormats(
    [
        zxingcpp.BarcodeFormat.Code128,
        zxingcpp.BarcodeFormat.Code39,
        zxingcpp.BarcodeFormat.Code93,
        zxingcpp.BarcodeFormat.ITF,
        zxingcpp.BarcodeFormat.Codabar,
        zxingcpp.BarcodeFormat.DataMatrix,
        zxingcpp.BarcodeFormat.QRCode,
        zxingcpp.BarcodeFormat.PDF417,
        zxingcpp.BarcodeFormat.Aztec,
    ]
)


def _texts(image: Any, *, rotated: bool, downscale: bool = True) -> list[str]:
    try:
        found = zxingcpp.read_barcodes(image, formats=_FORMATS, try_rotate=rotated,
                                       try_downscale=downscale)
    except (ValueError, RuntimeError, TypeError):
        # zxing-cpp rejects odd image modes/sizes with these; no barcode then
        return []
    texts: list[str] = []
    for code in found:
        text = str(code.text).strip()
        if code.valid and text and text not in texts:
            texts.append(text)
    return texts


def read_barcode_texts(image: Image.Image, *, rotated: bool = True) -> list[str]:
    """Texts of every valid barcode found on ``image``, in reading order; in any
    orientation, or (``rotated=False``, a born-digital page: 2.5x faster) upright only."""
    return _texts(image, rotated=rotated)


def pdf_page_barcode_texts(
    data: bytes, index: int, *, dpi: int, max_pixels: int, rotated: bool = False,
    downscale: bool = True,
) -> list[str] | None:
    """Barcode texts of page ``index`` of the PDF ``data`` rendered in grey at ``dpi``
    (None: no such page), as :func:`read_barcode_texts` on
    :func:`~kimmail.muster86.render.render_page` would find them.  ``downscale=False``
    only for a page without raster images (see the module docstring).

    The page the text layer of ``data`` loaded is rendered if it is still open
    (:func:`~kimmail.muster86.pdftext.pdfium_page`). The resolution and the errors are
    those of ``render_page``: a page above
    ``max_pixels`` is rendered at the highest resolution that fits,
    :class:`TooManyPixelsError` when not even 72 dpi fits, :class:`UnreadablePdfError`
    for damaged or password-protected documents.
    """
    try:
        with pdfium_page(data, index) as page:
            if page is None:
                return None
            bitmap = page.render(scale=render_scale(page, dpi, max_pixels), grayscale=True)
            try:
                # a view of PDFium's buffer (rows padded to the stride), no copy;
                # zxing-cpp reads it before the bitmap is closed
                pixels = (bitmap.to_numpy() if bitmap.n_channels == 1
                          else bitmap.to_pil().convert("L"))
                return _texts(pixels, rotated=rotated, downscale=downscale)
            finally:
                bitmap.close()
    except pdfium.PdfiumError as exc:
        raise UnreadablePdfError from exc
