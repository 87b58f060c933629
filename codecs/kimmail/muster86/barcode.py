"""Barcodes on a rendered page or scan (zxing-cpp).

Some Krankenkassen print the Aktenzeichen as a linear barcode (Code128 and the like) or a
2D code beside the ``##`` value.  A barcode carries its own check, so a decoded value is
trusted as much as a text layer; the caller still compares it with the other sources.
"""

from __future__ import annotations

import zxingcpp
from PIL import Image

__all__ = ["read_barcode_texts"]

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


def read_barcode_texts(image: Image.Image, *, rotated: bool = True) -> list[str]:
    """Texts of every valid barcode found on ``image``, in reading order; in any
    orientation, or (``rotated=False``, a born-digital page: 2.5x faster) upright only."""
    try:
        found = zxingcpp.read_barcodes(image, formats=_FORMATS, try_rotate=rotated)
    except (ValueError, RuntimeError, TypeError):
        # zxing-cpp rejects odd image modes/sizes with these; no barcode then
        return []
    texts: list[str] = []
    for code in found:
        text = str(code.text).strip()
        if code.valid and text and text not in texts:
            texts.append(text)
    return texts
