"""Reading the KBV-Muster 86 (Weiterleitungsbogen): Aktenzeichen, MD, KV-Nummer.

Sources in order: the PDF text layer (PDFium, see :mod:`.pdftext`), barcodes
(zxing-cpp), OCR (tesseract). See :func:`read_form`. PDFium is not thread-safe: call
from one thread per process (the router runs the reader in worker processes).
"""

from __future__ import annotations

from .errors import (
    FormError,
    OcrError,
    TooManyPixelsError,
    UnreadableImageError,
    UnreadablePdfError,
    UnsupportedMediaError,
)
from .fields import MD_REGIONS, aktenzeichen_in, anchors_in, is_form_text, kvnr_in, md_names_in
from .images import IMAGE_FORMATS, ScanImage, load_images
from .pdftext import pdf_text
from .reading import SOURCES, FormLimits, FormReading, read_form
from .render import render_page, render_pages

__all__ = [
    "IMAGE_FORMATS",
    "MD_REGIONS",
    "SOURCES",
    "FormError",
    "FormLimits",
    "FormReading",
    "OcrError",
    "ScanImage",
    "TooManyPixelsError",
    "UnreadableImageError",
    "UnreadablePdfError",
    "UnsupportedMediaError",
    "aktenzeichen_in",
    "anchors_in",
    "is_form_text",
    "kvnr_in",
    "load_images",
    "md_names_in",
    "pdf_text",
    "read_form",
    "render_page",
    "render_pages",
]
