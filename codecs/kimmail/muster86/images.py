"""Loading scanned images with Pillow: explicit format allow-list and a pixel limit.

The pixel limit is a parameter rather than Pillow's process-wide ``Image.MAX_IMAGE_PIXELS``
so that this module never changes global state other code in the worker relies on.  The
size is checked from the header, before any pixel is decoded.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator

from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import TooManyPixelsError, UnreadableImageError, UnsupportedMediaError

__all__ = ["IMAGE_FORMATS", "ScanImage", "load_images"]

# media type -> Pillow format name; only these decoders are ever tried
IMAGE_FORMATS: dict[str, str] = {
    "image/jpeg": "JPEG",
    "image/jpg": "JPEG",
    "image/png": "PNG",
    "image/tiff": "TIFF",
}

# what Pillow raises on damaged or hostile files (truncated streams, bad headers, bad
# tiles, zlib errors, bogus dimensions)
_PIL_ERRORS = (
    UnidentifiedImageError,
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    KeyError,
    IndexError,
    TypeError,
    ZeroDivisionError,
    OverflowError,
    MemoryError,
    Image.DecompressionBombError,
)


class ScanImage:
    """One decoded page: an 8-bit greyscale image and the dpi it claims (None if unknown)."""

    __slots__ = ("dpi", "image")

    def __init__(self, image: Image.Image, dpi: float | None) -> None:
        self.image = image
        self.dpi = dpi


def _frames(img: Image.Image, max_pages: int) -> Iterator[Image.Image]:
    n = int(getattr(img, "n_frames", 1) or 1)
    for i in range(min(n, max_pages)):
        if i:
            img.seek(i)
        yield img


def _claimed_dpi(img: Image.Image) -> float | None:
    dpi = img.info.get("dpi")
    try:
        value = float(dpi[0]) if dpi else 0.0
    except (TypeError, ValueError, IndexError):
        return None
    # scanners write 72 or 96 when they do not know; treat implausible values as unknown
    return value if 100.0 <= value <= 1200.0 else None


def load_images(data: bytes, media: str, *, max_pixels: int, max_pages: int = 2) -> list[ScanImage]:
    """Decode ``data`` as the image format of ``media`` (JPEG, PNG or TIFF).

    Returns up to ``max_pages`` frames (multi-page TIFF), EXIF orientation applied, as
    greyscale.  Raises :class:`UnsupportedMediaError`, :class:`UnreadableImageError` or
    :class:`TooManyPixelsError`.
    """
    fmt = IMAGE_FORMATS.get(media.lower().split(";")[0].strip())
    if fmt is None:
        raise UnsupportedMediaError
    pages: list[ScanImage] = []
    try:
        with warnings.catch_warnings():
            # our own limit below replaces Pillow's warning-level bomb check
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                for frame in _frames(img, max_pages):
                    w, h = frame.size
                    if w <= 0 or h <= 0:
                        raise UnreadableImageError
                    if w * h > max_pixels:
                        raise TooManyPixelsError
                    dpi = _claimed_dpi(frame)
                    frame.load()
                    oriented = ImageOps.exif_transpose(frame)
                    gray = (oriented if oriented is not None else frame).convert("L")
                    pages.append(ScanImage(gray, dpi))
    except (TooManyPixelsError, UnreadableImageError):
        raise
    except Image.DecompressionBombError as exc:
        raise TooManyPixelsError from exc
    except _PIL_ERRORS as exc:
        raise UnreadableImageError from exc
    if not pages:
        raise UnreadableImageError
    return pages
