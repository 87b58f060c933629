"""The OCR vote and the line geometry of the Muster 86 reader, without tesseract (fast).

The vote decides which Aktenzeichen OCR vouches for: a misread must end in "not read"
(quarantine), never in another value.  Internals are tested here because the end-to-end
cases (``test_muster86_ocr.py``) need tesseract and seconds per scan.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont

from kimmail.muster86.ocr import (
    _decide,
    _drop_glyphs,
    _glyph_spans,
    _line_box,
    _tally,
)

V = "400000000482041289"
W = "400900000482041289"  # one digit misread: a speck on a 0 makes it a 9
X = "900000000482041289"


def confirmed(page: tuple[str, ...], *lines: tuple[str, ...]) -> str | None:
    return _tally(page, lines, 0)[0]


def test_three_reads_confirm() -> None:
    assert confirmed((V,), (V,), (V,)) == V
    assert confirmed((), (V,), (V,), (V,)) == V
    assert confirmed((), (V,), (), (V,), (V,)) == V


def test_two_reads_do_not() -> None:
    assert confirmed((V,), (V,)) is None
    assert confirmed((), (V,), (), (V,)) is None


def test_the_page_pass_is_outvoted_by_four_line_reads() -> None:
    assert confirmed((W,), (V,), (V,), (V,)) is None
    assert confirmed((W,), (V,), (V,), (V,), (V,)) == V


def test_line_reads_that_differ_confirm_nothing() -> None:
    # an ambiguous glyph: whichever way the majority falls, it may be the wrong one
    assert confirmed((W,), (W,), (V,), (W,), (W,), (W,)) is None
    assert confirmed((V,), (V,), (W,), (V,), (V,)) is None
    assert _tally((V,), [(V,), (W,)], 3) == (None, False)


def test_a_pass_reading_two_values_confirms_nothing() -> None:
    # two numbers on the form: a conflict, however many passes read one of them
    assert confirmed((V, X), (V,), (V,), (V,), (V,)) is None
    assert confirmed((V,), (V,), (V, X), (V,), (V,)) is None
    assert _tally((V, X), [(V,)], 4) == (None, False)


def test_ladder_goes_on_only_while_a_value_can_still_be_confirmed() -> None:
    assert _tally((V,), [(V,)], 1) == (None, True)
    assert _tally((V,), [(V,)], 0) == (None, False)
    assert _tally((W,), [(V,)], 3) == (None, True)  # three more line reads outvote W
    assert _tally((W,), [(V,)], 2) == (None, False)
    assert _tally((), [()], 3) == (None, True)
    assert _tally((), [()], 2) == (None, False)
    assert _tally((V,), [()], 2) == (None, True)
    assert _tally((V,), [(V,), (V,)], 2) == (V, False)


def test_decide_reports_the_confirmed_value_alone() -> None:
    r = _decide((W,), [(V,), (V,), (V,), (V,)], V, ("Sachsen",), None, 180)
    assert (r.confirmed, r.candidates, r.detail, r.rotation) == (V, (V,), "ok", 180)
    r = _decide((V,), [(V,), (W,)], None, (), None, 0)
    assert (r.confirmed, r.candidates, r.detail) == (None, (V, W), "ocr-disagree")
    r = _decide((), [(V,), ()], None, (), None, 0)
    assert (r.confirmed, r.detail) == (None, "ocr-low-confidence")
    r = _decide((), [()], None, (), None, 0)
    assert (r.confirmed, r.detail) == (None, "no-value")


_READS = st.sampled_from([(), (V,), (W,), (X,), (V, X)])


@given(_READS, st.lists(_READS, max_size=7))
def test_a_confirmed_value_has_three_reads_and_no_line_read_against_it(
    page: tuple[str, ...], lines: list[tuple[str, ...]],
) -> None:
    value = _tally(page, lines, 0)[0]
    if value is None:
        return
    reads = [p for p in (page, *lines) if p]
    assert sum(1 for p in reads if p == (value,)) >= 3
    assert all(p == (value,) for p in lines if p)
    if page and page != (value,):
        assert sum(1 for p in lines if p) >= 4
    # whatever a further read gives, it never turns into another value
    for more in ((), (V,), (W,), (X,)):
        assert _tally(page, [*lines, more], 0)[0] in {value, None}


_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def _line_image(text: str, frame: bool = False) -> Image.Image:
    """``text`` drawn like the Aktenzeichen: bold, ~45 px digits, white page, binary."""
    img = Image.new("L", (1400, 200), 255)
    draw = ImageDraw.Draw(img)
    draw.text((80, 60), text, font=ImageFont.truetype(_FONT, 62), fill=0)
    if frame:
        draw.rectangle((40, 20, 1360, 190), outline=0, width=4)
    return img.point(lambda v: 0 if v < 128 else 255)


def _ink_columns(img: Image.Image) -> tuple[int, int]:
    cols = np.nonzero((np.asarray(img) < 128).any(axis=0))[0]
    return int(cols[0]), int(cols[-1])


def test_line_box_widens_a_piece_to_the_whole_number() -> None:
    img = _line_image("##181991195881087068", frame=True)
    # the sparse pass found only the right part ("1991195881087068"), cutting the 8
    piece = (400, 55, 1000, 140)
    left, top, right, bottom = _line_box(img, piece)
    text_only = _line_image("##181991195881087068")
    first, last = _ink_columns(text_only)
    assert left <= first and right >= last
    assert (top, bottom) == (55, 140)
    assert left > 44  # the frame's vertical stroke is not part of the line


def test_drop_glyphs_cuts_the_hash_prefix_between_glyphs() -> None:
    img = _line_image("##5002")
    cut = _drop_glyphs(img, 2)
    assert cut is not None
    spans = _glyph_spans(img)
    assert len(spans) == 6
    # the cut lies in the gap after the second "#": the "5" keeps all its columns
    assert img.width - cut.width <= spans[2][0]
    assert img.width - cut.width >= spans[1][1]
    assert len(_glyph_spans(cut)) == 4
    assert _drop_glyphs(_line_image("##"), 2) is None


def test_glyph_spans_ignore_specks() -> None:
    img = _line_image("##12")
    speckled = img.copy()
    ImageDraw.Draw(speckled).rectangle((20, 100, 22, 102), fill=0)  # a 3 px dust speck
    assert _glyph_spans(speckled) == _glyph_spans(img)
