"""The text layer of a PDF (pypdf), for the form reader and for classifying mail parts."""

from __future__ import annotations

import io
import logging
import struct
import zlib

from pypdf import PdfReader
from pypdf.errors import PyPdfError

__all__ = ["PDF_ERRORS", "pdf_text"]

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


def pdf_text(data: bytes, max_pages: int = 2) -> str | None:
    """Text layer of the first ``max_pages`` pages joined by newlines.

    Returns None when the PDF cannot be parsed, is encrypted with a password, or has no
    text at all (e.g. a scan without OCR).  Never raises on bad input.
    """
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return None
        parts: list[str] = []
        for index, page in enumerate(reader.pages):
            if index >= max_pages:
                break
            parts.append(page.extract_text() or "")
    except PDF_ERRORS as exc:
        # the exception type only: messages of parsers may quote document bytes
        _log.debug("pdf text layer unreadable: %s", type(exc).__name__)
        return None
    text = "\n".join(parts)
    return text if text.strip() else None
