"""Reading a KBV-Muster 86 from a PDF or an image: :func:`read_form`.

Sources, in order: the PDF text layer (PDFium, see :mod:`.pdftext`), barcodes (zxing-cpp
on the rendered page or the image), OCR (tesseract). The reader stops at the first
source that gives one confident value, except that barcodes are always looked for when a
page is rendered anyway, so a barcode that disagrees with the text layer shows up as a
conflict.

PDFium (text layer, rendering) is not thread-safe: call :func:`read_form` from one
thread per process. The router calls it in worker processes.
"""

from __future__ import annotations

import logging

import msgspec
from PIL import Image

from .barcode import pdf_page_barcode_texts, read_barcode_texts
from .errors import FormError, UnreadablePdfError, UnsupportedMediaError
from .fields import aktenzeichen_in, anchors_in, compile_pattern, is_form_text, kvnr_in, md_names_in
from .images import IMAGE_FORMATS, load_images
from .ocr import ocr_page
from .pdftext import release_held, text_layer
from .render import render_page

__all__ = ["SOURCES", "FormLimits", "FormReading", "read_form"]

_log = logging.getLogger(__name__)

PDF_MEDIA = "application/pdf"
SOURCES = ("pdf-text", "barcode", "ocr")


class FormReading(msgspec.Struct, frozen=True):
    """What was read from one PDF or image.

    ``aktenzeichen`` is set only when exactly one distinct value was read and a source
    vouched for it (``confident``); ``candidates`` lists every distinct value read, so
    more than one means a conflict.  ``detail`` is a short note, never document text.
    """

    is_muster86: bool
    aktenzeichen: str | None
    source: str | None
    candidates: tuple[str, ...]
    confident: bool
    md_names: tuple[str, ...]
    kvnr: str | None
    detail: str


class FormLimits(msgspec.Struct, frozen=True):
    """Resource limits of :func:`read_form`."""

    max_pixels: int = 60_000_000
    max_pages: int = 2  # pages of a PDF examined (the form is page 1; allow a second)
    dpi: int = 300  # rendering / scaling target for OCR
    ocr_timeout_s: float = 20.0  # per page, passed to tesseract
    ocr: bool = True  # False: text layer and barcode only


def _unread(detail: str) -> FormReading:
    return FormReading(False, None, None, (), False, (), None, detail)


class _Acc:
    """Evidence gathered across sources and pages."""

    def __init__(self) -> None:
        self.is_form = False
        self.candidates: list[str] = []
        self.accepted: dict[str, str] = {}  # value -> first source that vouched for it
        self.md_names: list[str] = []
        self.kvnr: str | None = None
        self.notes: list[str] = []

    def add_values(self, values: tuple[str, ...], source: str, confident: bool) -> None:
        for v in values:
            if v not in self.candidates:
                self.candidates.append(v)
        if confident and len(values) == 1:
            self.accepted.setdefault(values[0], source)

    def add_fields(self, text: str) -> None:
        for name in md_names_in(text):
            if name not in self.md_names:
                self.md_names.append(name)
        if self.kvnr is None:
            self.kvnr = kvnr_in(text)

    def settled(self) -> bool:
        """One value, vouched for by a source, and the form recognised."""
        return self.is_form and len(self.candidates) == 1 and bool(self.accepted)

    def reading(self) -> FormReading:
        value: str | None = None
        source: str | None = None
        if len(self.candidates) == 1 and self.candidates[0] in self.accepted:
            value = self.candidates[0]
            source = self.accepted[value]
        if value is not None:
            detail = "ok" if self.is_form else "no-anchor"
        elif len(self.candidates) > 1:
            # OCR passes that disagree among themselves are a misread, not two documents
            only_ocr = not any(v in self.accepted for v in self.candidates)
            detail = "ocr-disagree" if only_ocr and "ocr-disagree" in self.notes else "conflict"
        elif not self.is_form:
            detail = next((n for n in self.notes if n != "ok"), "no-anchor")
        elif self.candidates:
            detail = next((n for n in self.notes if n.startswith("ocr-")), "low-confidence")
        else:
            detail = next(
                (n for n in self.notes if n not in {"ok", "no-anchor"}), "no-value"
            )
        return FormReading(
            is_muster86=self.is_form,
            aktenzeichen=value,
            source=source,
            candidates=tuple(self.candidates),
            confident=value is not None,
            md_names=tuple(self.md_names),
            kvnr=self.kvnr,
            detail=detail,
        )


def _barcode_values(image: Image.Image, pattern: str, *, rotated: bool = True
                    ) -> tuple[str, ...]:
    return _matching(read_barcode_texts(image, rotated=rotated), pattern)


def _matching(texts: list[str], pattern: str) -> tuple[str, ...]:
    _, alone = compile_pattern(pattern)
    values: list[str] = []
    for text in texts:
        # a barcode holds the bare value, sometimes with the printed "##"
        bare = text.lstrip("#").strip()
        if alone.fullmatch(bare) and bare not in values:
            values.append(bare)
    return tuple(values)


_SUBSTANTIAL = 200  # non-space characters that make a page a text document
_SOME_TEXT = 20  # non-space characters of a page that was not only scanned
# Enough for the barcode check of a born-digital form: 1/4 of the pixels of 300 dpi.
_BARCODE_DPI = 150


def _read_pdf(data: bytes, pattern: str, limits: FormLimits) -> FormReading:
    acc = _Acc()
    layer = text_layer(bytes(data), limits.max_pages)
    # fields come from the form's own page: a letter behind it may name another MD
    # a born-digital text layer spells the anchors right: OCR tolerance is for scans
    exact = not layer.scanner_ocr
    form_pages = [t for t in layer.pages if is_form_text(anchors_in(t, exact=exact))]
    text = "\n".join(form_pages or layer.pages)
    if text.strip():
        acc.is_form = bool(form_pages) or is_form_text(anchors_in(text, exact=exact))
        if acc.is_form:
            # a scanner's OCR layer may have misread digits: evidence, not a vouching source
            acc.add_values(aktenzeichen_in(text, pattern), "pdf-text", not layer.scanner_ocr)
            acc.add_fields(text)
        else:
            acc.notes.append("no-anchor")

    rendered = False
    for index in range(max(1, limits.max_pages)):
        if layer.parsed and index >= layer.page_count:
            break  # no such page (the text layer opened the same document)
        page_text = layer.pages[index] if index < len(layer.pages) else ""
        chars = len("".join(page_text.split())) if not layer.scanner_ocr else 0
        born_digital = chars >= _SUBSTANTIAL
        no_scan = chars >= _SOME_TEXT and index < len(layer.images) and not layer.images[index]
        if (born_digital or no_scan) and not acc.is_form:
            # a text document (letter, report), or a page with text and no raster image
            # a form could be scanned into: barcodes and OCR are for forms and scans
            rendered = True
            continue
        # Without OCR to follow (a born-digital form, or OCR off) the page is only
        # searched for barcodes: a coarser page will do, upright if born digital, and
        # no PIL image is made of it (pdf_page_barcode_texts).
        coarse = born_digital or not limits.ocr
        dpi = min(limits.dpi, _BARCODE_DPI) if coarse else limits.dpi
        # a page with text of its own is drawn upright; a scan may lie any way
        rotated = chars < _SOME_TEXT
        page: Image.Image | None = None
        try:
            if coarse:
                # a page of text and vector graphics renders clean: zxing's downscaled
                # passes (for scans and photos) find nothing more there
                clean = index < len(layer.images) and not layer.images[index]
                texts = pdf_page_barcode_texts(data, index, dpi=dpi,
                                               max_pixels=limits.max_pixels, rotated=rotated,
                                               downscale=not clean)
            else:
                page = render_page(data, index, dpi=dpi, max_pixels=limits.max_pixels)
                texts = None if page is None else read_barcode_texts(page, rotated=rotated)
        except UnreadablePdfError:
            break
        except FormError as exc:  # too many pixels
            acc.notes.append(exc.detail)
            break
        if texts is None:
            break
        rendered = True
        # barcodes are cheap on a rendered page and catch a conflicting text layer
        acc.add_values(_matching(texts, pattern), "barcode", True)
        if acc.settled():
            break
        if limits.ocr:
            if page is None:
                try:
                    page = render_page(data, index, dpi=limits.dpi,
                                       max_pixels=limits.max_pixels)
                except FormError as exc:
                    acc.notes.append(exc.detail)
                    break
                if page is None:
                    break
            _ocr_into(acc, page, float(limits.dpi), pattern, limits)
        if acc.is_form:
            break
    if not rendered and not layer.parsed:
        return _unread("unreadable-pdf")
    return acc.reading()


def _ocr_into(
    acc: _Acc, page: Image.Image, dpi: float | None, pattern: str, limits: FormLimits
) -> None:
    if acc.settled():
        return
    try:
        result = ocr_page(
            page,
            pattern,
            dpi=dpi,
            timeout_s=limits.ocr_timeout_s,
            target_dpi=limits.dpi,
            max_pixels=limits.max_pixels,
        )
    except FormError as exc:
        acc.notes.append(exc.detail)
        return
    acc.notes.append(result.detail)
    if not result.is_form:
        return
    acc.is_form = True
    for v in result.candidates:
        if v not in acc.candidates:
            acc.candidates.append(v)
    if result.confirmed is not None:
        acc.accepted.setdefault(result.confirmed, "ocr")
    for name in result.md_names:
        if name not in acc.md_names:
            acc.md_names.append(name)
    if acc.kvnr is None:
        acc.kvnr = result.kvnr


def _read_image(data: bytes, media: str, pattern: str, limits: FormLimits) -> FormReading:
    pages = load_images(data, media, max_pixels=limits.max_pixels, max_pages=limits.max_pages)
    acc = _Acc()
    for scan in pages:
        acc.add_values(_barcode_values(scan.image, pattern), "barcode", True)
        if limits.ocr:
            _ocr_into(acc, scan.image, scan.dpi, pattern, limits)
        if acc.is_form:
            break
    return acc.reading()


def read_form(
    data: bytes,
    media: str,
    *,
    pattern: str = r"[0-9]{18}",
    limits: FormLimits = FormLimits(),  # noqa: B008  (frozen, immutable default)
) -> FormReading:
    """Read the Muster 86 fields from ``data`` (a PDF, JPEG, PNG or TIFF).

    ``media`` is the content type: ``application/pdf``, ``image/jpeg``, ``image/png`` or
    ``image/tiff``.  ``pattern`` is the MD's Aktenzeichen regex.  Never raises on bad
    input: damaged data gives ``is_muster86=False`` with a ``detail`` such as
    ``unreadable-pdf``, ``unreadable-image``, ``too-many-pixels`` or
    ``unsupported-media``.  An invalid ``pattern`` (a configuration error) raises
    :class:`re.error`.

    Without OCR (``limits.ocr=False``) an image-only page cannot show its anchor words:
    a barcode value is still returned, with ``is_muster86=False`` and detail ``no-anchor``.
    """
    compile_pattern(pattern)  # configuration errors surface here, not as "unreadable"
    kind = media.lower().split(";")[0].strip()
    try:
        if kind == PDF_MEDIA:
            try:
                return _read_pdf(data, pattern, limits)
            finally:
                release_held()  # the document its text layer kept open
        if kind in IMAGE_FORMATS:
            return _read_image(data, kind, pattern, limits)
        raise UnsupportedMediaError
    except FormError as exc:
        return _unread(exc.detail)
    except Exception as exc:
        # last resort: third-party parsers raise arbitrary types on hostile input, and no
        # attachment may crash the router's worker; only the type is logged
        _log.warning("muster86 reader failed: %s", type(exc).__name__)
        return _unread("reader-error")
