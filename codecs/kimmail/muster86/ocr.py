"""OCR of a scanned Muster 86 page with tesseract (via pytesseract).

Pipeline (facts measured on these machines, see the KIM domain notes):

1. scale to 300 dpi (the claimed dpi, else estimated from the A4 page size);
2. Otsu threshold and a 3x3 median — on the binary image, where a 3x3 median is a
   majority vote and commutes with the threshold, so it is the same as filtering the
   grey image first at a tenth of the cost;
3. the text axis (portrait or turned by 90°) and the skew (±5°) from projection profiles;
4. up or down: a text-dense strip read both ways, the one with more confident words wins
   (OSD, ``--psm 0``, decides when that is inconclusive — alone it is unreliable for 0 vs
   180 on sparse pages); every orientation is tried in turn until the anchor words are read;
5. a full pass ``--psm 11`` (``--psm 6`` as fallback) gives anchors, address block, KVNR
   and the ``##`` Aktenzeichen;
6. the line of the ``##`` number: the longest digit run the full pass found, widened to
   its whole text line (the full pass often splits the number, and a crop through a
   glyph turns half an 8 into a 3), the frame of its box removed; read digit-only
   (``tessedit_char_whitelist=0123456789#``, ``--psm 7``, 1.5x);
7. a vote (:func:`_tally`): further reads of the line, each different in one way (the
   page pass's word box not widened, a lighter threshold, the ``##`` cut off, 1x scale,
   ``--psm 13``), follow until a value is confirmed or can no longer be.  Confirmed:
   three reads of one value, the page pass's included, and no line read of another
   value -- where line reads differ, a glyph is ambiguous (a speck on a 0 reads as 9 in
   some passes, as 0 in others) and a majority may be the wrong one.  The page pass
   reads digits worst and may be outvoted, by four line reads.  A pass that reads two
   values has found two numbers.  Where no number was found, the area below the anchor
   is read the same way.  A misread must end in quarantine, never in another case.

Tesseract runs as a subprocess; ``OMP_THREAD_LIMIT=1`` is set in ``os.environ`` when
unset because OpenMP threads made it ~10x slower on two shared cores.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Sequence

import msgspec
import numpy as np
import numpy.typing as npt
import pytesseract
from PIL import Image, ImageOps

from .errors import OcrError
from .fields import (
    aktenzeichen_in,
    anchors_in,
    compile_pattern,
    is_form_text,
    kvnr_in,
    md_names_in,
)

__all__ = ["OcrReading", "Orientation", "estimate_orientation", "ocr_page", "prepare"]

TARGET_DPI = 300
_A4_LONG_IN = 11.69
_LANG = "deu"
_DIGITS = "-c tessedit_char_whitelist=0123456789#"
_DIGITS_ONLY = "-c tessedit_char_whitelist=0123456789"

BoolArray = npt.NDArray[np.bool_]


class OcrReading(msgspec.Struct, frozen=True):
    """What OCR read on one page (values only; the caller decides what is accepted)."""

    is_form: bool
    # the confirmed value alone, else every distinct pattern value any pass read
    candidates: tuple[str, ...]
    confirmed: str | None  # read by three passes, outvoting at most the page pass
    md_names: tuple[str, ...]
    kvnr: str | None
    rotation: int  # clockwise degrees the page was turned to read upright
    detail: str  # "ok", "no-anchor", "no-value", "ocr-disagree", "ocr-low-confidence"


class Orientation(msgspec.Struct, frozen=True):
    """Quarter turns (clockwise degrees) to try, most likely first, and the skew angle."""

    rotations: tuple[int, ...]
    skew: float


def _ensure_thread_limit() -> None:
    # pytesseract inherits os.environ for the tesseract subprocess
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")


def prepare(
    image: Image.Image,
    dpi: float | None,
    target: int = TARGET_DPI,
    max_pixels: int = 60_000_000,
) -> Image.Image:
    """``image`` as greyscale at ``target`` dpi (estimated from A4 when ``dpi`` is None).

    Never larger than ``max_pixels``: a claimed low dpi on a big image must not make the
    upscaled copy exhaust memory.
    """
    gray = image.convert("L")
    if dpi is None:
        # a scan of an A4 page: the long side is 11.69 in
        dpi = max(gray.size) / _A4_LONG_IN
    dpi = min(max(dpi, 50.0), 1200.0)
    factor = target / dpi
    area = gray.width * gray.height
    if area * factor * factor > max_pixels:
        factor = math.sqrt(max_pixels / area)
    if abs(factor - 1.0) > 0.08:
        size = (max(1, round(gray.width * factor)), max(1, round(gray.height * factor)))
        resample = Image.Resampling.LANCZOS if factor < 1 else Image.Resampling.BICUBIC
        gray = gray.resize(size, resample=resample)
    return gray


def _otsu(gray: npt.NDArray[np.uint8]) -> int:
    hist = np.bincount(gray[::2, ::2].ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    if total == 0:
        return 128
    p = hist / total
    omega = np.cumsum(p)
    mu = np.cumsum(p * np.arange(256))
    between = (mu[-1] * omega - mu) ** 2 / (omega * (1.0 - omega) + 1e-12)
    return int(np.argmax(between))


def _majority3(ink: BoolArray) -> BoolArray:
    """3x3 median of a binary image (a pixel is ink when 5 of its 9 neighbours are)."""
    padded = np.pad(ink.astype(np.uint8), 1)
    h, w = ink.shape
    total = np.zeros((h, w), dtype=np.uint8)
    for dy in range(3):
        for dx in range(3):
            total += padded[dy : dy + h, dx : dx + w]
    return total >= 5


def _binarize(gray: Image.Image, threshold: int | None = None) -> tuple[BoolArray, int]:
    arr = np.asarray(gray, dtype=np.uint8)
    t = _otsu(arr) if threshold is None else threshold
    return _majority3(arr <= t), t


def _to_image(ink: BoolArray) -> Image.Image:
    return Image.fromarray(np.where(ink, 0, 255).astype(np.uint8))


def _downsample(ink: BoolArray, f: int) -> BoolArray:
    h, w = (ink.shape[0] // f) * f, (ink.shape[1] // f) * f
    blocks = ink[:h, :w].reshape(h // f, f, w // f, f)
    counts: npt.NDArray[np.int64] = blocks.sum(axis=(1, 3))
    return counts * 4 >= f * f


def _profile_score(ys: npt.NDArray[np.float64], xs: npt.NDArray[np.float64], deg: float) -> float:
    # shear instead of rotating the image: rows of text line up at the right angle
    proj = ys - xs * math.tan(math.radians(deg))
    bins = np.bincount((proj - proj.min()).astype(np.int64))
    diff = np.diff(bins.astype(np.float64))
    return float(np.dot(diff, diff))


def _best_angle(
    ys: npt.NDArray[np.float64], xs: npt.NDArray[np.float64], angles: Sequence[float]
) -> tuple[float, float]:
    scored = [(_profile_score(ys, xs, a), a) for a in angles]
    score, angle = max(scored)
    return angle, score


def _skew(ink: BoolArray, f: int = 4) -> tuple[bool, float]:
    """(text runs vertically, skew in degrees) from projection profiles."""
    small = _downsample(ink, f)
    ys_i, xs_i = np.nonzero(small)
    if len(ys_i) < 50:
        return False, 0.0
    if len(ys_i) > 200_000:  # a dark scan: a sample is as good and bounded in time
        step = len(ys_i) // 200_000 + 1
        ys_i, xs_i = ys_i[::step], xs_i[::step]
    ys, xs = ys_i.astype(np.float64), xs_i.astype(np.float64)
    coarse = [a / 4 for a in range(-20, 21)]
    a_h, s_h = _best_angle(ys, xs, coarse)
    a_v, s_v = _best_angle(xs, ys, coarse)
    vertical = s_v > s_h
    a0 = a_v if vertical else a_h
    fine = [a0 + d / 20 for d in range(-5, 6)]
    angle, _ = _best_angle(xs, ys, fine) if vertical else _best_angle(ys, xs, fine)
    return vertical, angle


def _turn(image: Image.Image, rotation: int, skew: float, vertical: bool) -> Image.Image:
    """Turn ``image`` clockwise by ``rotation`` degrees and remove ``skew``.

    ``skew`` was measured before the quarter turn, with the axes swapped when ``vertical``.
    """
    # PIL turns counter-clockwise: a clockwise quarter turn is ROTATE_270
    transposes = {
        90: Image.Transpose.ROTATE_270,
        180: Image.Transpose.ROTATE_180,
        270: Image.Transpose.ROTATE_90,
    }
    # the shear angle is the slope of the text rows in image coordinates (y down); remove
    # it before the quarter turn, where its sign is known
    correction = -skew if vertical else skew
    out = image
    if abs(correction) >= 0.05:
        out = out.rotate(
            correction, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=255
        )
    if rotation:
        out = out.transpose(transposes[rotation])
    return out


class _Page:
    """One page prepared once; oriented variants on demand."""

    def __init__(self, gray: Image.Image) -> None:
        self.gray = gray
        ink, self.threshold = _binarize(gray)
        self.vertical, self.skew = _skew(ink)
        self._oriented: dict[int, Image.Image] = {}
        self._gray: dict[int, Image.Image] = {}

    def oriented_gray(self, rotation: int) -> Image.Image:
        """The grey page turned by ``rotation`` with the skew removed (cached)."""
        if rotation not in self._gray:
            self._gray[rotation] = _turn(self.gray, rotation, self.skew, self.vertical)
        return self._gray[rotation]

    def oriented(self, rotation: int) -> Image.Image:
        """The binary page turned by ``rotation`` with the skew removed (cached)."""
        if rotation not in self._oriented:
            # turn the grey image, then threshold: rotating a binary image frays strokes
            ink, _ = _binarize(self.oriented_gray(rotation), self.threshold)
            self._oriented[rotation] = _to_image(ink)
        return self._oriented[rotation]


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0.2:
            raise OcrError("ocr-timeout")
        return remaining


def _tesseract_data(
    image: Image.Image, config: str, deadline: _Deadline
) -> dict[str, list[str]]:
    try:
        data: dict[str, list[str]] = pytesseract.image_to_data(
            image,
            lang=_LANG,
            config=config,
            output_type=pytesseract.Output.DICT,
            timeout=deadline.left(),
        )
    except RuntimeError as exc:  # pytesseract's timeout, and TesseractError (a subclass)
        raise OcrError("ocr-timeout" if "timeout" in str(exc).lower() else "ocr-failed") from exc
    except (OSError, pytesseract.TesseractNotFoundError) as exc:
        raise OcrError("ocr-unavailable") from exc
    return {k: [str(v) for v in vals] for k, vals in data.items()}


class _Word(msgspec.Struct, frozen=True):
    text: str
    left: int
    top: int
    width: int
    height: int
    conf: float
    line: tuple[int, int, int]


def _words(data: dict[str, list[str]]) -> list[_Word]:
    words: list[_Word] = []
    for i, text in enumerate(data.get("text", [])):
        if not text.strip():
            continue
        try:
            words.append(
                _Word(
                    text=text.strip(),
                    left=int(data["left"][i]),
                    top=int(data["top"][i]),
                    width=int(data["width"][i]),
                    height=int(data["height"][i]),
                    conf=float(data["conf"][i]),
                    line=(int(data["block_num"][i]), int(data["par_num"][i]),
                          int(data["line_num"][i])),
                )
            )
        except (KeyError, IndexError, ValueError):
            continue
    return words


_NUMERIC = re.compile(r"[0-9#]+")


def _merge_numbers(words: list[_Word]) -> list[_Word]:
    """Join digit groups the sparse pass split (``##991287`` ``113119009422``).

    Only groups side by side on one text line with a gap under a character height are
    joined: the LANR and IK fields, also 9 digits each on one line, are far apart.
    """
    numeric = sorted((w for w in words if _NUMERIC.fullmatch(w.text)), key=lambda w: w.left)
    merged: list[_Word] = []
    used: set[int] = set()
    for i, w in enumerate(numeric):
        if i in used:
            continue
        cur = w
        for j in range(i + 1, len(numeric)):
            if j in used:
                continue
            nxt = numeric[j]
            h = max(cur.height, nxt.height)
            overlap = min(cur.top + cur.height, nxt.top + nxt.height) - max(cur.top, nxt.top)
            gap = nxt.left - (cur.left + cur.width)
            if overlap >= 0.6 * min(cur.height, nxt.height) and -h < gap < 0.8 * h:
                top = min(cur.top, nxt.top)
                bottom = max(cur.top + cur.height, nxt.top + nxt.height)
                cur = _Word(
                    text=cur.text + nxt.text, left=cur.left, top=top,
                    width=nxt.left + nxt.width - cur.left, height=bottom - top,
                    conf=min(cur.conf, nxt.conf), line=cur.line,
                )
                used.add(j)
        if cur is not w:
            merged.append(cur)
    if not merged:
        return words
    # the joined numbers come as lines of their own after the page's words
    extra = [
        msgspec.structs.replace(m, line=(-1, -1, k)) for k, m in enumerate(merged)
    ]
    return words + extra


def _text(words: Sequence[_Word]) -> str:
    lines: list[str] = []
    current: tuple[int, int, int] | None = None
    for w in words:
        if w.line != current:
            lines.append(w.text)
            current = w.line
        else:
            lines[-1] += " " + w.text
    return "\n".join(lines)


def _strip_score(image: Image.Image, deadline: _Deadline) -> int:
    """Confident real words in ``image``: high when it is upright, ~0 upside down."""
    data = _tesseract_data(image, "--psm 6", deadline)
    return sum(
        1
        for w in _words(data)
        if w.conf >= 80 and sum(c.isalpha() for c in w.text) >= 4
    )


_CLEAR_STRIP = 6


def _dense_strip(binary: Image.Image, height: int = 360) -> Image.Image:
    """The band of ``height`` rows with the most ink (where the text is)."""
    ink = np.asarray(binary, dtype=np.uint8) < 128
    rows = ink.sum(axis=1).astype(np.int64)
    if len(rows) <= height:
        return binary
    window = np.convolve(rows, np.ones(height, dtype=np.int64), mode="valid")
    top = int(np.argmax(window))
    return binary.crop((0, top, binary.width, top + height))


def _osd_rotation(binary: Image.Image, deadline: _Deadline) -> int | None:
    small = binary.reduce(2)
    try:
        osd = pytesseract.image_to_osd(small, config="--psm 0", timeout=deadline.left())
    except RuntimeError:  # "Too few characters", timeouts: no opinion
        return None
    m = re.search(r"Rotate:\s*(\d+)", str(osd))
    return int(m.group(1)) % 360 if m else None


def estimate_orientation(page: Image.Image, deadline_s: float = 20.0) -> Orientation:
    """Rotations to try for ``page`` (prepared greyscale), most likely first, and its skew."""
    _ensure_thread_limit()
    p = _Page(page)
    return Orientation(_rotation_order(p, _Deadline(deadline_s)), p.skew)


def _rotation_order(page: _Page, deadline: _Deadline) -> tuple[int, ...]:
    first, second = (90, 270) if page.vertical else (0, 180)
    bin_a = page.oriented(first)
    strip = _dense_strip(bin_a)
    score_a = _strip_score(strip, deadline)
    # upside-down text gives ~0 confident words: a clear first read needs no second one
    score_b = 0 if score_a >= _CLEAR_STRIP else _strip_score(
        strip.transpose(Image.Transpose.ROTATE_180), deadline
    )
    if score_a >= 3 and score_a >= 2 * score_b:
        order = [first, second]
    elif score_b >= 3 and score_b >= 2 * score_a:
        order = [second, first]
    else:
        osd = _osd_rotation(bin_a, deadline)
        # OSD reports how far to turn the already turned page
        guess = (first + osd) % 360 if osd is not None else first
        order = [guess, (guess + 180) % 360]
    for r in (0, 90, 180, 270):
        if r not in order:
            order.append(r)
    return tuple(order)


def _crop(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    left, top, right, bottom = box
    left, top = max(0, left), max(0, top)
    right, bottom = min(image.width, right), min(image.height, bottom)
    if right - left < 4 or bottom - top < 4:
        return Image.new("L", (8, 8), 255)
    return image.crop((left, top, right, bottom))


def _longest_runs(ink: BoolArray) -> npt.NDArray[np.int64]:
    """Length of the longest run of ink in each row."""
    out = np.zeros(ink.shape[0], dtype=np.int64)
    for y, row in enumerate(ink):
        if not row.any():
            continue
        edges = np.diff(np.concatenate(([0], row.astype(np.int8), [0])))
        starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
        out[y] = int((ends - starts).max())
    return out


def _clean_line(crop: Image.Image) -> Image.Image:
    """The crop without the frame of the Aktenzeichen box, cut to its densest text line.

    Tesseract's word box often takes in a dust speck or the frame, and a frame stroke or
    the heading above is then read as digits.
    """
    ink = np.asarray(crop, dtype=np.uint8) < 128
    if ink.size == 0 or not ink.any():
        return crop
    ink = ink.copy()
    h, w = ink.shape
    # an unbroken run over most of the crop is a stroke of the frame, not a character
    ink[_longest_runs(ink) > 0.6 * w, :] = False
    # a vertical stroke of the frame crosses the whole crop near its ends; the strokes of
    # the digits in a tight crop are nearly as tall, so look only at the outer columns
    edge = max(1, w // 8)
    tall = _longest_runs(ink.T) >= 0.9 * h
    tall[edge : w - edge] = False
    ink[:, tall] = False
    rows = ink.sum(axis=1)
    on = rows > max(2, int(0.01 * w))
    best: tuple[int, int, int] | None = None  # (ink, start, end) of the densest band
    start = None
    for y in range(h + 1):
        if y < h and on[y]:
            if start is None:
                start = y
        elif start is not None:
            band = (int(rows[start:y].sum()), start, y)
            best = band if best is None or band > best else best
            start = None
    if best is None:
        return crop
    _, y0, y1 = best
    cols = np.nonzero(ink[y0:y1].any(axis=0))[0]
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    margin = max(4, (y1 - y0) // 3)
    cleaned = _to_image(ink)
    return cleaned.crop((max(0, x0 - margin), max(0, y0 - margin),
                         min(w, x1 + margin), min(h, y1 + margin)))


def _line_box(binary: Image.Image, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """``box`` widened to the whole text line it lies on.

    The sparse pass splits the number where a dust speck or a misread ``#`` breaks it
    (``#H18`` ``1991195881087068``): a crop of one piece cuts a glyph in half, and half an
    8 reads as a 3.  The line grows sideways over ink columns of the box's rows while the
    gaps stay under about half a character height; a stroke crossing all those rows (the
    frame of the Aktenzeichen box) is no text and stops it.
    """
    left, top, right, bottom = box
    left, top = max(0, left), max(0, top)
    right, bottom = min(binary.width, right), min(binary.height, bottom)
    if right - left < 4 or bottom - top < 4:
        return box
    ink = np.asarray(binary.crop((0, top, binary.width, bottom)), dtype=np.uint8) < 128
    h = bottom - top
    rows = ink[:, left:right].sum(axis=1)
    text_h = max(8, int((rows > 0.05 * (right - left)).sum()))
    counts = ink.sum(axis=0)
    # columns with a run over nearly all rows are frame strokes (digits are shorter)
    candidates = np.nonzero(counts >= 0.9 * h)[0]
    frame = np.zeros(ink.shape[1], dtype=np.bool_)
    if len(candidates):
        runs = _longest_runs(ink[:, candidates].T)
        frame[candidates[runs >= 0.9 * h]] = True
    text = (counts >= 2) & ~frame
    gap = max(4, round(0.6 * text_h))
    reach = 14 * text_h

    def grow(start: int, step: int, stop: int) -> int:
        last = start
        x = start
        while x != stop:
            if frame[x]:
                break
            if text[x]:
                last = x
            elif abs(x - last) > gap:
                break
            x += step
        return last

    new_left = grow(left, -1, max(-1, left - reach))
    new_right = grow(right - 1, 1, min(binary.width, right + reach)) + 1
    pad = max(4, text_h // 3)
    return (min(left, new_left - pad), top, max(right, new_right + pad), bottom)


def _glyph_spans(line: Image.Image) -> list[tuple[int, int]]:
    """Column spans of the glyphs in a cleaned line crop (touching glyphs are one span).

    Spans much narrower or lighter than the median are specks or a remnant of the frame.
    """
    ink = np.asarray(line, dtype=np.uint8) < 128
    counts = ink.sum(axis=0)
    spans: list[tuple[int, int, int]] = []  # (start, end, ink)
    start = None
    for x, on in enumerate([*(counts >= 2).tolist(), False]):
        if on and start is None:
            start = x
        elif not on and start is not None:
            spans.append((start, x, int(counts[start:x].sum())))
            start = None
    if not spans:
        return []
    width = float(np.median([e - s for s, e, _ in spans]))
    mass = float(np.median([m for _, _, m in spans]))
    return [(s, e) for s, e, m in spans if e - s >= 0.5 * width and m >= 0.3 * mass]


def _drop_glyphs(line: Image.Image, n: int) -> Image.Image | None:
    """``line`` without its first ``n`` glyphs (the printed ``##``), None if it has too few.

    A wrong cut (touching glyphs, a speck counted as one) leaves a digit too many or too
    few, which the pattern does not match: it costs a vote, never gives another value.
    """
    spans = _glyph_spans(line)
    if len(spans) <= n:
        return None
    cut = (spans[n - 1][1] + spans[n][0]) // 2
    return line.crop((cut, 0, line.width, line.height))


def _read_line(
    line: Image.Image, pattern: str, config: str, deadline: _Deadline, scale: float,
    *, hashed: bool = True,
) -> tuple[tuple[str, ...], str]:
    """(values of ``pattern``, the digits and ``#`` read) in the line image at ``scale``.

    ``hashed=False``: the line holds only the value (its ``##`` cut off), so only a run
    that is all of the digits read counts.
    """
    if scale != 1.0:
        line = line.resize(
            (max(1, round(line.width * scale)), max(1, round(line.height * scale))),
            Image.Resampling.BICUBIC,
        )
    line = ImageOps.expand(line, border=20, fill=255)
    text = _text(_words(_tesseract_data(line, config, deadline)))
    # whatever the pass puts between digits (spaces, stray marks) is not part of a number
    raw = "\n".join(re.sub(r"[^0-9#]+", "", t) for t in text.splitlines())
    if not hashed:
        digits = raw.replace("\n", "")
        _, alone = compile_pattern(pattern)
        return ((digits,) if alone.fullmatch(digits) else ()), raw
    return aktenzeichen_in(raw, pattern), raw


def _binary_line(
    gray: Image.Image, box: tuple[int, int, int, int], threshold: int
) -> Image.Image:
    """The line crop of the grey page thresholded at ``threshold``, frame removed."""
    ink = _majority3(np.asarray(_crop(gray, box), dtype=np.uint8) <= threshold)
    return _clean_line(_to_image(ink))


def _digit_pass(
    binary: Image.Image,
    box: tuple[int, int, int, int],
    pattern: str,
    config: str,
    deadline: _Deadline,
    scale: float,
) -> tuple[str, ...]:
    """Values of ``pattern`` read from the binary crop ``box``, upscaled by ``scale``."""
    return _read_line(_clean_line(_crop(binary, box)), pattern, config, deadline, scale)[0]


def _value_boxes(words: Sequence[_Word]) -> list[tuple[int, int, int, int]]:
    """Tight boxes around words that look like the Aktenzeichen, the likeliest first.

    A word with the printed ``#`` and a few digits (a piece is enough: the
    line is widened later), then long digit runs under the anchor heading (where the
    page pass split the number, a phone number of the Krankenkasse is as long as a
    piece), then anywhere; also a run the full pass could not accept, such as
    ``#4400…`` (a ``#`` read as 4).
    """
    region = _anchor_region(words)

    def digits(w: _Word) -> int:
        return sum(c.isdigit() for c in w.text)

    def under_heading(w: _Word) -> bool:
        if region is None:
            return False
        x, y = w.left + w.width // 2, w.top + w.height // 2
        return region[0] <= x <= region[2] and region[1] <= y <= region[3]

    likely = sorted(
        (w for w in words
         if digits(w) >= _MIN_DIGITS or ("#" in w.text and digits(w) >= 3)),
        # a joined number before its pieces
        key=lambda w: ("#" in w.text, under_heading(w), len(w.text)),
        reverse=True,
    )
    boxes = []
    for w in likely:
        pad_x, pad_y = round(w.height * 0.3), round(w.height * 0.25) + 2
        boxes.append((w.left - pad_x, w.top - pad_y, w.left + w.width + pad_x,
                      w.top + w.height + pad_y))
    return boxes


_MIN_DIGITS = 10
_WHITELIST_7 = f"--psm 7 {_DIGITS}"


_ANCHOR_WORD = re.compile(r"aktenz|mitteil|mittel|mima|zeichen", re.IGNORECASE)


def _anchor_region(words: Sequence[_Word]) -> tuple[int, int, int, int] | None:
    """The area right of and below the "Aktenzeichen Mitteilungsmanagement" heading."""
    heads = [w for w in words if _ANCHOR_WORD.search(w.text)]
    if not heads:
        return None
    left = min(w.left for w in heads)
    right = max(w.left + w.width for w in heads)
    top = min(w.top for w in heads)
    lh = max(20, *(w.height for w in heads))
    return (left - 3 * lh, top - lh, right + 6 * lh, top + 6 * lh)


def ocr_page(
    page: Image.Image,
    pattern: str,
    *,
    dpi: float | None = None,
    timeout_s: float = 20.0,
    target_dpi: int = TARGET_DPI,
    max_pixels: int = 60_000_000,
) -> OcrReading:
    """Read one page image (any orientation, skewed a few degrees, noisy, 150–600 dpi).

    ``dpi`` is the page's resolution (None: estimated from A4); it is scaled to
    ``target_dpi``.  Raises :class:`OcrError` when tesseract is missing, fails or the
    page takes longer than ``timeout_s`` in total.
    """
    _ensure_thread_limit()
    deadline = _Deadline(timeout_s)
    prepared = _Page(prepare(page, dpi, target_dpi, max_pixels))
    order = _rotation_order(prepared, deadline)

    chosen: tuple[int, Image.Image, list[_Word], str] | None = None
    first_try: tuple[int, Image.Image] | None = None
    for rotation in order:
        binary = prepared.oriented(rotation)
        if first_try is None:
            first_try = (rotation, binary)
        words = _merge_numbers(_words(_tesseract_data(binary, "--psm 11", deadline)))
        text = _text(words)
        if is_form_text(anchors_in(text)):
            chosen = (rotation, binary, words, text)
            break
        if rotation == order[1]:
            # both candidates along the measured axis failed: psm 6 on the likeliest
            # before the unlikely axis
            assert first_try is not None
            r0, b0 = first_try
            words = _merge_numbers(_words(_tesseract_data(b0, "--psm 6", deadline)))
            text = _text(words)
            if is_form_text(anchors_in(text)):
                chosen = (r0, b0, words, text)
                break
    if chosen is None:
        return OcrReading(False, (), None, (), None, order[0], "no-anchor")

    rotation, binary, words, text = chosen
    md_names = md_names_in(text)
    kvnr = kvnr_in(text)
    page_values = aktenzeichen_in(text, pattern)
    lines: list[tuple[str, ...]] = []
    boxes = _value_boxes(words)
    if boxes:
        box = _line_box(binary, boxes[0])
        line = _clean_line(_crop(binary, box))
        first, raw = _read_line(line, pattern, _WHITELIST_7, deadline, 1.5)
        lines.append(first)
        more = _line_passes(prepared, rotation, boxes[0], box, line,
                            raw.lstrip().startswith("#"))
    else:
        # no number long enough: read the area right of and below the anchor
        region = _anchor_region(words)
        more = _region_passes(binary, region) if region is not None else []
    confirmed, go_on = _tally(page_values, lines, len(more))
    for i, read in enumerate(more):
        if confirmed is not None or not go_on:
            break
        lines.append(read(pattern, deadline))
        confirmed, go_on = _tally(page_values, lines, len(more) - i - 1)
    return _decide(page_values, lines, confirmed, md_names, kvnr, rotation)


# reads of one value that confirm it, the page pass's included ...
_VOTES = 3
# ... and the line reads, all of them the same, that outvote a page pass reading another
_VOTES_OVER_PAGE = 4


_Pass = Callable[[str, _Deadline], tuple[str, ...]]


def _line_passes(
    page: _Page, rotation: int, word: tuple[int, int, int, int],
    box: tuple[int, int, int, int], line: Image.Image, hash_prefix: bool,
) -> list[_Pass]:
    """Further reads of the number's line, each differing from the line pass in one way.

    Misreads coincide: a speck on a glyph made two to six passes agree on the same wrong
    digit (generated scans with noise 0.6-1, kim_bench seeds 89-91), so the line reads
    must agree among themselves (:func:`_tally`), and the first further read is the one
    that differs most, in geometry: the page pass's own word box (``word``), not widened.
    The LSTM reads a glyph a speck made ambiguous differently in crops a few pixels
    apart; with the widened line and a lighter threshold as the first two reads, one
    scan in 400 had all of them agree on a wrong digit, which the word crop read right.
    """

    def piece(pattern: str, deadline: _Deadline) -> tuple[str, ...]:
        return _digit_pass(page.oriented(rotation), word, pattern, _WHITELIST_7, deadline,
                           1.5)

    def lighter(pattern: str, deadline: _Deadline) -> tuple[str, ...]:
        # fewer grey pixels count as ink: a speck that closed a stroke comes apart
        thin = _binary_line(page.oriented_gray(rotation), box, page.threshold - 30)
        return _read_line(thin, pattern, _WHITELIST_7, deadline, 1.5)[0]

    def cut(pattern: str, deadline: _Deadline) -> tuple[str, ...]:
        # without the printed "##", whose second "#" a speck turns into a "4"
        digits = _drop_glyphs(line, 2) if hash_prefix else None
        if digits is None:
            return ()
        return _read_line(digits, pattern, f"--psm 7 {_DIGITS_ONLY}", deadline, 1.5,
                          hashed=False)[0]

    def native(pattern: str, deadline: _Deadline) -> tuple[str, ...]:
        return _read_line(line, pattern, _WHITELIST_7, deadline, 1.0)[0]

    def raw_line(pattern: str, deadline: _Deadline) -> tuple[str, ...]:
        return _read_line(line, pattern, f"--psm 13 {_DIGITS}", deadline, 2.0)[0]

    return [piece, lighter, cut, native, raw_line]


def _region_passes(binary: Image.Image, region: tuple[int, int, int, int]) -> list[_Pass]:
    """Reads of the area below the anchor (where no number was found on the page)."""

    def read(config: str, scale: float) -> _Pass:
        return lambda pattern, deadline: _digit_pass(binary, region, pattern, config,
                                                     deadline, scale)

    return [read(f"--psm 6 {_DIGITS}", 1.0), read(f"--psm 11 {_DIGITS}", 1.5),
            read(f"--psm 6 {_DIGITS}", 1.5)]


def _tally(
    page: tuple[str, ...], lines: Sequence[tuple[str, ...]], remaining: int
) -> tuple[str | None, bool]:
    """(the confirmed value, whether ``remaining`` more line reads could confirm one).

    ``page`` is what the page pass read, ``lines`` what the reads of the number's line
    did.  The page pass reads digits worst (native scale, no whitelist) and may be
    outvoted; the line reads may not disagree at all: where they do, a glyph is
    ambiguous (a speck on a 0 reads as 9 in some passes, as 0 in others) and however
    the majority falls, it may be the wrong one.  A pass that reads two values has found
    two numbers.
    """
    if any(len(set(p)) > 1 for p in (page, *lines)):
        return None, False
    values = {p[0] for p in lines if p}
    if len(values) > 1:
        return None, False
    reads = sum(1 for p in lines if p)
    if not values:
        return None, reads + remaining >= _VOTES - bool(page)
    value = values.pop()
    outvoted = bool(page) and page[0] != value
    needed = _VOTES_OVER_PAGE - reads if outvoted else _VOTES - reads - bool(page)
    if needed <= 0:
        return value, False
    return None, remaining >= needed


def _decide(
    page: tuple[str, ...],
    lines: Sequence[tuple[str, ...]],
    confirmed: str | None,
    md_names: tuple[str, ...],
    kvnr: str | None,
    rotation: int,
) -> OcrReading:
    """The reading with its ``detail`` (``ok``, ``no-value``, ``ocr-disagree`` or
    ``ocr-low-confidence``)."""
    candidates: list[str] = []
    for p in (page, *lines):
        for v in p:
            if v not in candidates:
                candidates.append(v)
    if confirmed is not None:
        detail = "ok"
    elif not candidates:
        detail = "no-value"
    elif len(candidates) > 1:
        detail = "ocr-disagree"
    else:
        detail = "ocr-low-confidence"
    # a confirmed value is the only candidate reported: the outvoted misread of the page
    # pass is not a second number on the form
    found = (confirmed,) if confirmed is not None else tuple(candidates)
    return OcrReading(True, found, confirmed, md_names, kvnr, rotation, detail)
