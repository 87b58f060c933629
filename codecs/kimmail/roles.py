"""Roles of parts, decided by content (magic bytes, XML root, text layer), never by name.

=================  ==========================================================================
role               decided by
=================  ==========================================================================
``muster86``       a PDF or image the form reader recognises as KBV-Muster 86
``cda``            XML whose root is ``ClinicalDocument`` in ``urn:hl7-org:v3``
``letter``         the eArztbrief PDF: in a mail with a CDA, the PDF that is neither a
                   Muster 86 nor a client notice and lies nearest to the (first) CDA in part
                   order, the earlier on a tie (the eArztbrief has one PDF; further PDFs
                   are its ``Anhang`` documents)
``document``       any other PDF, JPEG, PNG or TIFF
``client-notice``  a PDF whose text layer, or a text part whose first non-empty line,
                   starts with "Signaturprüfbericht", "Signaturpruefbericht",
                   "Prüfbericht" or "Pruefbericht" (what KIM client modules such as
                   OpenKIM add); the ``message/rfc822`` wrapper of a notice mail is ``other``
                   (and KIM05)
``body``           a text part without file name that is not an attachment: the mail
                   text, never processed (KIM52 when not blank)
``other``          everything else (KIM51)
=================  ==========================================================================
"""

from __future__ import annotations

import io
import warnings

from PIL import Image

from .model import (
    ROLE_BODY,
    ROLE_CDA,
    ROLE_CLIENT_NOTICE,
    ROLE_DOCUMENT,
    ROLE_LETTER,
    ROLE_MUSTER86,
    ROLE_OTHER,
)
from .muster86.pdftext import text_layer

__all__ = [
    "IMAGE_MEDIA",
    "PDF",
    "ROLE_BODY",
    "ROLE_CDA",
    "ROLE_CLIENT_NOTICE",
    "ROLE_DOCUMENT",
    "ROLE_LETTER",
    "ROLE_MUSTER86",
    "ROLE_OTHER",
    "XML",
    "has_anchor",
    "image_intact",
    "is_notice_text",
    "pdf_intact",
    "sniff",
]

PDF = "application/pdf"
XML = "application/xml"
JPEG = "image/jpeg"
PNG = "image/png"
TIFF = "image/tiff"
IMAGE_MEDIA = (JPEG, PNG, TIFF)

_NOTICE_HEADINGS = ("signaturprüfbericht", "signaturpruefbericht", "prüfbericht", "pruefbericht")
_ANCHORS = ("weiterleitungsbogen", "muster 86", "muster86")


def sniff(data: bytes) -> str:
    """The media type by magic bytes: PDF, JPEG, PNG, TIFF, XML, or ``""`` if unknown.

    ``%PDF-`` may follow up to 1 KiB of junk (readers accept that); XML is text that
    starts with ``<`` after an optional BOM and whitespace (UTF-16 included).
    """
    if b"%PDF-" in data[:1024]:
        return PDF
    if data[:3] == b"\xff\xd8\xff":
        return JPEG
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    head = data[:64]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        head = head[2:].replace(b"\x00", b"")
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if head[:1] == b"<":
        return XML
    return ""


def is_notice_text(text: str) -> bool:
    """Whether the first non-empty line starts with a client-module report heading."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped:
            return stripped.casefold().startswith(_NOTICE_HEADINGS)
    return False


def has_anchor(text: str) -> bool:
    """Whether a text layer names the form ("Weiterleitungsbogen", "Muster 86")."""
    folded = " ".join(text.casefold().split())
    return any(a in folded for a in _ANCHORS)


def pdf_intact(data: bytes) -> bool:
    """Whether the PDF is complete (``%%EOF`` at the end) and PDFium finds a page.

    A truncated upload usually lacks the trailer; PDFium would silently recover what it
    can, and the MD would get half a document. The page count comes from the text layer
    (:func:`kimmail.muster86.pdftext.text_layer`, cached), which the classification and
    the form reader need anyway.
    """
    if b"%%EOF" not in data[-1024:]:
        return False
    try:
        return text_layer(bytes(data), 2).page_count > 0  # the key pdf_text uses
    except Exception:
        return False


def image_intact(data: bytes) -> bool:
    """Whether Pillow can identify and verify the image (truncated files fail)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as img:
                img.verify()
    except Exception:
        return False
    # verify() does not decode the scan data; a cut JPEG lacks its EOI marker.
    return not (data[:3] == b"\xff\xd8\xff" and b"\xff\xd9" not in data[-64:])
