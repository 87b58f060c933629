"""Rendering PDF pages to greyscale images with pypdfium2 (for barcode and OCR).

PDFium is not thread-safe: call this from one thread per process only.  The router runs
the form reader in worker *processes*, which satisfies that; do not call it from a thread
pool.
"""

from __future__ import annotations

import math

import pypdfium2 as pdfium
from PIL import Image

from .errors import TooManyPixelsError, UnreadablePdfError

__all__ = ["page_count", "render_page", "render_pages", "render_scale"]


def render_scale(page: pdfium.PdfPage, dpi: int, max_pixels: int) -> float:
    """PDFium's render scale for ``dpi``, lowered until the page fits in ``max_pixels``
    (a poster-sized page: keep what fits rather than fail).

    :class:`UnreadablePdfError` for a page without a finite positive size,
    :class:`TooManyPixelsError` when not even 72 dpi fits.
    """
    w_pt, h_pt = page.get_size()
    area = w_pt * h_pt  # pixels at scale 1 (72 dpi)
    if not (w_pt > 0 and h_pt > 0 and math.isfinite(area)):
        raise UnreadablePdfError
    scale = dpi / 72.0
    if area * scale * scale > max_pixels:
        scale = math.sqrt(max_pixels / area)
        if scale < 1.0:
            raise TooManyPixelsError
    return scale


def page_count(data: bytes) -> int:
    """Number of pages of the PDF ``data``; raises :class:`UnreadablePdfError`."""
    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise UnreadablePdfError from exc
    try:
        return len(doc)
    finally:
        doc.close()


def render_page(
    data: bytes, index: int = 0, *, dpi: int = 300, max_pixels: int = 60_000_000
) -> Image.Image | None:
    """Page ``index`` of the PDF ``data`` as an 8-bit greyscale image (None: no such page).

    A page that would exceed ``max_pixels`` at ``dpi`` is rendered at the highest
    resolution that fits; :class:`TooManyPixelsError` only when even 72 dpi would not fit.
    Raises :class:`UnreadablePdfError` on damaged or password-protected documents.
    """
    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise UnreadablePdfError from exc
    try:
        if index >= len(doc):
            return None
        page = doc[index]
        try:
            bitmap = page.render(scale=render_scale(page, dpi, max_pixels), grayscale=True)
            try:
                # to_pil() shares the bitmap's buffer; convert() copies it before close()
                image: Image.Image = bitmap.to_pil().convert("L")
                return image
            finally:
                bitmap.close()
        finally:
            page.close()
    except pdfium.PdfiumError as exc:
        raise UnreadablePdfError from exc
    finally:
        doc.close()


def render_pages(
    data: bytes, *, dpi: int = 300, max_pages: int = 2, max_pixels: int = 60_000_000
) -> list[Image.Image]:
    """The first ``max_pages`` pages of ``data`` rendered as :func:`render_page` does."""
    images: list[Image.Image] = []
    for index in range(max_pages):
        img = render_page(data, index, dpi=dpi, max_pixels=max_pixels)
        if img is None:
            break
        images.append(img)
    if not images:
        raise UnreadablePdfError
    return images
