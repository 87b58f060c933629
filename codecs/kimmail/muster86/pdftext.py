"""The text layer of a PDF (PDFium), for the form reader and for classifying mail parts.

The issue named pypdf (or pdfminer) for the text layer; PDFium (pypdfium2, already used
to render pages) replaced pypdf here because it is four to five times faster on the same
documents and the text is the same where it matters (anchors, ``##`` value, MD, KVNR).
:func:`text_layer` (text, invisible text, images), best of 9, one core, 2026-12-07:

==========================================  ===========  ========
input                                         pypdf 7.1   PDFium
==========================================  ===========  ========
Muster 86 (``muster86_pdf``, one page)          5.3 ms     1.2 ms
the three PDFs of a fixture KIM mail            8.7 ms     1.8 ms
==========================================  ===========  ========

On a hostile page of 100,000 tiny invisible text objects (11 kB of PDF) pypdf took 5.8 s,
PDFium 0.24 s.

PDFium's text differs from pypdf's in whitespace only: runs of spaces are collapsed and
line ends are ``\\r\\n`` (normalised to ``\\n`` here). Text outside the page's visible box
is not extracted (what no reader sees vouches for nothing). Invisible text (render mode
3, a scanner's OCR layer over a scan; or 7, text used as a clip path) and raster images
are found by walking the page objects, nested form XObjects included.

The document a text layer was read from stays open (with its examined pages) until the
next text layer is read or :func:`release_held` is called: the barcode pass of a
born-digital form (:func:`~kimmail.muster86.barcode.pdf_page_barcode_texts`) renders the
page it already loaded (:func:`pdfium_page`), fonts parsed: about 0.8 ms less per form.
At most one document is held; ``read_form`` and ``analyse`` release it when done, so no
payload outlives the mail in it.

PDFium is not thread-safe: every call into it here holds :data:`PDFIUM_LOCK`. Rendering
(:mod:`.render`) is PDFium too; the router calls the codec from worker processes with
one thread each, so the lock is only a guard against a future thread pool.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import struct
import threading
import zlib
from collections.abc import Iterator

import msgspec
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

__all__ = [
    "PDFIUM_LOCK",
    "PDF_ERRORS",
    "PdfTextLayer",
    "pdf_text",
    "pdfium_page",
    "release_held",
    "text_layer",
]

# what PDFium (pypdfium2) raises on truncated, damaged, encrypted or hostile PDFs, and
# the Python errors its helpers may let through while decoding what the library returns
PDF_ERRORS: tuple[type[BaseException], ...] = (
    pdfium.PdfiumError,
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

#: Held around every PDFium call of this module (PDFium is not thread-safe).
PDFIUM_LOCK = threading.Lock()

_log = logging.getLogger(__name__)


class PdfTextLayer(msgspec.Struct, frozen=True):
    """What the text layer of a PDF says, page by page."""

    pages: tuple[str, ...]  # text of each examined page ("" when none)
    parsed: bool  # the PDF could be opened at all (PDFium)
    scanner_ocr: bool  # invisible text over a scan (a scanner's own OCR)
    #: Per examined page: whether it draws a raster image (a scan could hide in it).
    #: True where that could not be determined.
    images: tuple[bool, ...] = ()
    #: Pages of the whole document (0 when it could not be opened).
    page_count: int = 0


_INVISIBLE_MODES = frozenset({pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE,
                              pdfium_c.FPDF_TEXTRENDERMODE_CLIP})
_MAX_FORM_DEPTH = 4  # form XObjects nested in form XObjects
# page objects visited per page; a page with more is not looked at further (a hostile
# page must not keep the walk busy): it counts as holding images and invisible text
_MAX_OBJECTS = 50_000


def _objects(page: pdfium.PdfPage) -> tuple[bool, bool]:
    """(invisible text, raster image) drawn by the page, nested forms included; True
    for both when the walk had to stop (too deep, too many objects)."""
    invisible = images = False
    # (container, is a form object, depth); the page itself is the first container
    stack: list[tuple[object, bool, int]] = [(page.raw, False, 0)]
    seen = 0
    while stack:
        container, form, depth = stack.pop()
        count = (pdfium_c.FPDFFormObj_CountObjects(container) if form
                 else pdfium_c.FPDFPage_CountObjects(container))
        if count < 0:
            return True, True
        seen += count
        if seen > _MAX_OBJECTS:
            return True, True
        for i in range(count):
            obj = (pdfium_c.FPDFFormObj_GetObject(container, i) if form
                   else pdfium_c.FPDFPage_GetObject(container, i))
            if not obj:
                continue
            kind = pdfium_c.FPDFPageObj_GetType(obj)
            if kind == pdfium_c.FPDF_PAGEOBJ_IMAGE:
                images = True
            elif kind == pdfium_c.FPDF_PAGEOBJ_TEXT:
                if pdfium_c.FPDFTextObj_GetTextRenderMode(obj) in _INVISIBLE_MODES:
                    invisible = True
            elif kind == pdfium_c.FPDF_PAGEOBJ_FORM:
                if depth >= _MAX_FORM_DEPTH:
                    return True, True
                stack.append((obj, True, depth + 1))
        if invisible and images:
            break
    return invisible, images


def _page_text(page: pdfium.PdfPage) -> str:
    textpage = page.get_textpage()
    try:
        # the page's visible box; FPDFText_GetText (get_text_range) recurses over
        # "passive" characters in pypdfium2 and could exhaust the stack
        text = str(textpage.get_text_bounded())
    finally:
        textpage.close()
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _Held:
    """An open document and its examined pages (module state under PDFIUM_LOCK)."""

    def __init__(self, data: bytes, doc: pdfium.PdfDocument) -> None:
        self.data = data
        self.doc = doc
        self.pages: list[pdfium.PdfPage] = []

    def close(self) -> None:
        for page in self.pages:
            page.close()
        self.doc.close()


_held: list[_Held] = []  # at most one


def _hold(held: _Held | None) -> None:
    """Close the held document, hold ``held`` instead (PDFIUM_LOCK held)."""
    while _held:
        _held.pop().close()
    if held is not None:
        _held.append(held)


def release_held() -> None:
    """Close the document the last text layer was read from, if it is still open."""
    with PDFIUM_LOCK:
        _hold(None)


@contextlib.contextmanager
def pdfium_page(data: bytes, index: int) -> Iterator[pdfium.PdfPage | None]:
    """Page ``index`` of the PDF ``data`` (None: no such page), PDFIUM_LOCK held while
    it is used: the page the last text layer loaded if it was read from these very bytes,
    else from a freshly opened document. Raises :class:`pypdfium2.PdfiumError`."""
    with PDFIUM_LOCK:
        held = _held[0] if _held and _held[0].data is data else None
        if held is not None and index < len(held.pages):
            yield held.pages[index]
            return
        doc = held.doc if held is not None else pdfium.PdfDocument(data)
        try:
            if index >= len(doc):
                yield None
                return
            page = doc[index]
            try:
                yield page
            finally:
                page.close()
        finally:
            if held is None:
                doc.close()


def _read_layer(data: bytes, max_pages: int) -> PdfTextLayer:
    # a password-protected PDF fails to open (PDFium tries the empty password)
    held = _Held(data, pdfium.PdfDocument(data))
    try:
        count = len(held.doc)
        pages: list[str] = []
        images: list[bool] = []
        scanner_ocr = False
        for index in range(min(count, max_pages)):
            page = held.doc[index]
            held.pages.append(page)
            pages.append(_page_text(page))
            invisible, drawn = _objects(page)
            scanner_ocr = scanner_ocr or invisible
            images.append(drawn)
    except BaseException:
        held.close()
        raise
    _hold(held)  # for the barcode pass of the same bytes (pdfium_page)
    return PdfTextLayer(tuple(pages), True, scanner_ocr, tuple(images), count)


# Classifying a part, checking it is intact and reading it as a form all need its text
# layer: parse once.
@functools.lru_cache(maxsize=8)
def text_layer(data: bytes, max_pages: int = 2) -> PdfTextLayer:
    """The text layer of the first ``max_pages`` pages; never raises on bad input."""
    try:
        with PDFIUM_LOCK:
            return _read_layer(data, max_pages)
    except PDF_ERRORS as exc:
        # the exception type only: messages of parsers may quote document bytes
        _log.debug("pdf text layer unreadable: %s", type(exc).__name__)
        return PdfTextLayer((), False, False)


def pdf_text(data: bytes, max_pages: int = 2) -> str | None:
    """Text layer of the first ``max_pages`` pages joined by newlines.

    Returns None when the PDF cannot be parsed, is encrypted with a password, or has no
    text at all (e.g. a scan without OCR).  Never raises on bad input.
    """
    text = "\n".join(text_layer(bytes(data), max_pages).pages)
    return text if text.strip() else None

