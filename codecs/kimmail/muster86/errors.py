"""Exceptions of the Muster 86 reader (one hierarchy, rooted in :class:`FormError`).

They carry a short machine-ish ``detail`` (the same words :class:`FormReading.detail`
uses) and never any document text: names, KVNR or Aktenzeichen must not reach logs.
:func:`read_form` catches them all; the helpers (:func:`load_images`, :func:`render_pages`)
raise them for callers that want the reason.
"""

from __future__ import annotations

__all__ = [
    "FormError",
    "OcrError",
    "TooManyPixelsError",
    "UnreadableImageError",
    "UnreadablePdfError",
    "UnsupportedMediaError",
]


class FormError(Exception):
    """Base class: the input could not be read as a form."""

    detail: str = "form-error"

    def __init__(self, detail: str | None = None) -> None:
        if detail is not None:
            self.detail = detail
        super().__init__(self.detail)


class UnsupportedMediaError(FormError):
    """The media type is none of PDF, JPEG, PNG, TIFF."""

    detail = "unsupported-media"


class UnreadablePdfError(FormError):
    """The PDF is truncated, damaged, encrypted or has no page."""

    detail = "unreadable-pdf"


class UnreadableImageError(FormError):
    """The image bytes are not a decodable JPEG/PNG/TIFF (or another format than claimed)."""

    detail = "unreadable-image"


class TooManyPixelsError(FormError):
    """An image or rendered page would exceed ``FormLimits.max_pixels``."""

    detail = "too-many-pixels"


class OcrError(FormError):
    """Tesseract is missing, failed or timed out."""

    detail = "ocr-failed"
