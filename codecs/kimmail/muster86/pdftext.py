"""The text layer of a PDF (pypdf), for the form reader and for classifying mail parts."""

from __future__ import annotations

import functools
import io
import logging
import re
import struct
import zlib

import msgspec
from pypdf import PageObject, PdfReader
from pypdf.errors import PyPdfError

__all__ = ["PDF_ERRORS", "PdfTextLayer", "pdf_text", "text_layer"]

# what pypdf raises on truncated, damaged or hostile PDFs besides its own errors: its
# parser indexes, unpacks and decodes raw bytes and lets those errors through
PDF_ERRORS: tuple[type[BaseException], ...] = (
    PyPdfError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    AssertionError,
    RecursionError,
    OSError,
    ZeroDivisionError,
    OverflowError,
    struct.error,
    zlib.error,
    UnicodeError,
    MemoryError,
    NotImplementedError,
)

_log = logging.getLogger(__name__)


class PdfTextLayer(msgspec.Struct, frozen=True):
    """What the text layer of a PDF says, page by page."""

    pages: tuple[str, ...]  # text of each examined page ("" when none)
    parsed: bool  # pypdf could parse the file at all
    scanner_ocr: bool  # invisible text over a scan (a scanner's own OCR)
    #: Per examined page: whether it draws a raster image (a scan could hide in it).
    #: True where that could not be determined.
    images: tuple[bool, ...] = ()


_INVISIBLE = re.compile(rb"(?<![0-9.])3\s+Tr\b")
_INLINE_IMAGE = re.compile(rb"(?<![A-Za-z])BI\s")
_MAX_FORM_DEPTH = 4  # form XObjects nested in form XObjects


def _content(page: PageObject) -> bytes | None:
    try:
        contents = page.get_contents()
        return contents.get_data() if contents is not None else b""
    except PDF_ERRORS:
        return None


def _invisible_text(raw: bytes | None) -> bool:
    """Whether the page draws text in render mode 3 (invisible), as OCR'd scans do."""
    return raw is not None and bool(_INVISIBLE.search(raw))


def _xobject_images(resources: object, depth: int) -> bool:
    xobjects = resources.get("/XObject") if hasattr(resources, "get") else None
    if xobjects is None:
        return False
    xobjects = xobjects.get_object()
    for ref in xobjects.values():
        obj = ref.get_object()
        subtype = obj.get("/Subtype")
        if subtype == "/Image":
            return True
        if subtype == "/Form" and (depth >= _MAX_FORM_DEPTH or _xobject_images(
                obj.get("/Resources", {}), depth + 1)):
            return True
    return False


def _draws_images(page: PageObject, raw: bytes | None) -> bool:
    """Whether the page draws a raster image (XObject or inline); True when unsure."""
    if raw is None or _INLINE_IMAGE.search(raw):
        return True
    try:
        return _xobject_images(page.get("/Resources", {}), 0)
    except PDF_ERRORS:
        return True


# Classifying a part and reading it as a form both need its text layer: parse once.
@functools.lru_cache(maxsize=8)
def text_layer(data: bytes, max_pages: int = 2) -> PdfTextLayer:
    """The text layer of the first ``max_pages`` pages; never raises on bad input."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return PdfTextLayer((), False, False)
        pages: list[str] = []
        images: list[bool] = []
        scanner_ocr = False
        for index, page in enumerate(reader.pages):
            if index >= max_pages:
                break
            pages.append(page.extract_text() or "")
            raw = _content(page)
            scanner_ocr = scanner_ocr or _invisible_text(raw)
            images.append(_draws_images(page, raw))
    except PDF_ERRORS as exc:
        # the exception type only: messages of parsers may quote document bytes
        _log.debug("pdf text layer unreadable: %s", type(exc).__name__)
        return PdfTextLayer((), False, False)
    return PdfTextLayer(tuple(pages), True, scanner_ocr, tuple(images))


def pdf_text(data: bytes, max_pages: int = 2) -> str | None:
    """Text layer of the first ``max_pages`` pages joined by newlines.

    Returns None when the PDF cannot be parsed, is encrypted with a password, or has no
    text at all (e.g. a scan without OCR).  Never raises on bad input.
    """
    text = "\n".join(text_layer(bytes(data), max_pages).pages)
    return text if text.strip() else None
