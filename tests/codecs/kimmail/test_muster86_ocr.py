"""Muster 86 reader with OCR: rotated, skewed, noisy scans at 150-300 dpi (tesseract).

A handful of cases (each ~3 s on two shared cores), not a benchmark.  What must hold on
every case: never a wrong Aktenzeichen, never another MD's name.
"""

from __future__ import annotations

import io
import os

import pytest
from kimfixtures.muster86 import muster86_image_pdf, muster86_pdf, muster86_scan
from PIL import Image

from kimmail.muster86 import FormLimits, read_form

pytestmark = pytest.mark.slow

AZ = "400000000482041289"


@pytest.mark.parametrize(
    ("value", "rotation", "skew", "dpi", "noise", "fmt"),
    [
        ("400000000482041289", 90, 2.5, 150, 0.6, "jpeg"),
        ("731905264418870032", 180, -3.0, 300, 0.8, "png"),
        ("118273645509182736", 270, 3.5, 200, 0.5, "tiff"),
        ("902837461029384756", 0, -1.5, 150, 0.9, "jpeg"),
    ],
)
def test_scan(value: str, rotation: int, skew: float, dpi: int, noise: float, fmt: str) -> None:
    data = muster86_scan(value, rotation=rotation, skew=skew, dpi=dpi, noise=noise, fmt=fmt,
                         seed=rotation + dpi)
    r = read_form(data, f"image/{fmt}")
    assert r.is_muster86
    assert (r.aktenzeichen, r.source, r.confident, r.candidates) == (value, "ocr", True, (value,))
    assert r.md_names in {("Sachsen",), ()}
    assert r.kvnr in {"A123456780", None}
    assert r.detail == "ok"


def test_image_pdf_upside_down_reads_md_and_kvnr() -> None:
    data = muster86_image_pdf(AZ, rotation=180, skew=1.0, dpi=300, noise=0.3, md="Niedersachsen")
    r = read_form(data, "application/pdf")
    assert (r.aktenzeichen, r.source) == (AZ, "ocr")
    assert r.md_names == ("Niedersachsen",)
    assert r.kvnr == "A123456780"


def test_barcode_settles_before_ocr_but_anchors_need_ocr() -> None:
    data = muster86_pdf(barcode=True, text_layer=False)
    r = read_form(data, "application/pdf")
    assert (r.aktenzeichen, r.source) == (AZ, "barcode")
    assert r.is_muster86  # the OCR pass read the anchor words


def test_barcode_and_print_disagree_on_a_scan() -> None:
    other = "400000000482041298"
    data = muster86_pdf(barcode_value=other, text_layer=False)
    r = read_form(data, "application/pdf")
    assert set(r.candidates) == {AZ, other}
    assert r.aktenzeichen is None
    assert not r.confident


def test_blank_page_is_no_form() -> None:
    buf = io.BytesIO()
    Image.new("L", (1240, 1754), 255).save(buf, format="PNG")
    r = read_form(buf.getvalue(), "image/png")
    assert (r.is_muster86, r.aktenzeichen, r.detail) == (False, None, "no-anchor")


def test_ocr_timeout_is_a_detail_not_an_exception() -> None:
    data = muster86_scan(AZ, dpi=150)
    r = read_form(data, "image/jpeg", limits=FormLimits(ocr_timeout_s=0.3))
    assert r.aktenzeichen is None
    assert r.detail == "ocr-timeout"


def test_thread_limit_is_set_for_tesseract() -> None:
    read_form(muster86_scan(AZ, dpi=150), "image/jpeg", limits=FormLimits(ocr_timeout_s=0.3))
    assert os.environ.get("OMP_THREAD_LIMIT")


def test_low_resolution_scan_never_names_another_md() -> None:
    # "Sachsen-Anhalt" read badly must not become "Sachsen" (kim.md: wrong-MD rule)
    data = muster86_scan(AZ, md="Sachsen-Anhalt", dpi=150, noise=0.8, rotation=90, skew=2.0)
    r = read_form(data, "image/jpeg")
    assert r.md_names in {("Sachsen-Anhalt",), ()}
    assert r.aktenzeichen in {AZ, None}
