"""Find segments and messages in an interchange, without copying or decoding them.

``scan`` walks the buffer once and returns the envelope and the byte spans of every
message; problems of the file structure (Prüfstufe 1) are recorded, never raised.
``tokenize`` is the strict, lazy view for callers that want segments one by one and an
exception on bad input. ``split_elements`` and ``unescape`` decode one segment on demand.

Segment boundaries come from ``bytes.find`` when the buffer has no release character
(the common case, all in C); otherwise from one compiled, release-aware expression.

>>> ic = scan(b"UNB+UNOC:3+260510223+120591481+151127:1200+00001++TUVK0001'UNZ+0+00001'")
>>> ic.sender_ik, len(ic.messages)
('260510223', 0)
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from functools import lru_cache

from .catalogue import text_for
from .delimiters import DEFAULT, Delimiters, una_problems
from .errors import EdifactSyntaxError
from .ik import ik_valid
from .model import Interchange, MessageSpan, Token, Violation

__all__ = [
    "Token", "as_number", "misplaced_release", "scan", "split_elements", "tokenize", "unescape",
]

_CR, _LF = 13, 10
_U, _N = ord("U"), ord("N")

# Graphic ISO 8859-1 characters plus CR/LF (line breaks between segments are tolerated;
# inside a segment the element formats reject them).
_ALLOWED = bytes(range(0x20, 0x7F)) + bytes(range(0xA0, 0x100)) + b"\r\n"
_NOT_ALLOWED = re.compile(rb"[^\x20-\x7e\xa0-\xff\r\n]")


@lru_cache(maxsize=32)
def _segment_re(d: Delimiters) -> re.Pattern[bytes]:
    """Release-aware 'rest of segment up to and including the terminator'."""
    t, r = re.escape(d.terminator), re.escape(d.release)
    return re.compile(b"[^" + t + r + b"]*(?:" + r + b"[\\s\\S][^" + t + r + b"]*)*" + t)


def _problem(code: str, offset: int, segment: str = "", number: int = 0, element: int = 0) -> (
    Violation
):
    return Violation(code, int(code[0]), segment, number, element, text_for(code), offset=offset)


def _as_bytes(buf: bytes | bytearray | memoryview) -> bytes:
    return buf if isinstance(buf, bytes) else bytes(buf)


def unescape(raw: bytes, d: Delimiters = DEFAULT) -> bytes:
    """Remove release characters: ``b"D?'Angelo"`` → ``b"D'Angelo"``."""
    r = d.release
    if r not in raw:
        return raw
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        c = raw[i : i + 1]
        if c == r and i + 1 < n:
            out += raw[i + 1 : i + 2]
            i += 2
        else:
            out += c
            i += 1
    return bytes(out)


def split_elements(
    buf: bytes, start: int, end: int, d: Delimiters = DEFAULT
) -> list[list[bytes]]:
    """Split the segment ``buf[start:end]`` (terminator excluded) into elements and
    components, still escaped. Element 0 is the tag.

    >>> split_elements(b"EAD+S22.05:L+X?+Y", 0, 17)
    [[b'EAD'], [b'S22.05', b'L'], [b'X?+Y']]
    """
    seg = buf[start:end]
    if d.release not in seg:
        return [e.split(d.component) for e in seg.split(d.element)]
    elements: list[list[bytes]] = []
    comps: list[bytes] = []
    cur = bytearray()
    i, n = 0, len(seg)
    rel, el, co = d.release[0], d.element[0], d.component[0]
    while i < n:
        c = seg[i]
        if c == rel and i + 1 < n:
            cur += seg[i : i + 2]
            i += 2
            continue
        if c == el:
            comps.append(bytes(cur))
            elements.append(comps)
            comps, cur = [], bytearray()
        elif c == co:
            comps.append(bytes(cur))
            cur = bytearray()
        else:
            cur.append(c)
        i += 1
    comps.append(bytes(cur))
    elements.append(comps)
    return elements


def misplaced_release(
    buf: bytes, start: int, end: int, d: Delimiters = DEFAULT
) -> tuple[int, int] | None:
    """(element, component) of the first release character in ``buf[start:end]`` that
    precedes a character other than a separator, the terminator or itself, else None.

    ISO 9735 releases only those four; ``?A`` or ``?,`` is a syntax error, not a value.
    Components are counted from 1, element 0 is the tag.

    >>> misplaced_release(b"NAD+A??+B?:C:D?x", 0, 16)
    (2, 2)
    """
    rel = d.release[0]
    service = {d.component[0], d.element[0], rel, d.terminator[0]}
    if buf.find(d.release, start, end) < 0:
        return None
    element, component = 0, 1
    pos = start
    while pos < end:
        c = buf[pos]
        if c == rel:
            if pos + 1 >= end or buf[pos + 1] not in service:
                return element, component
            pos += 2
            continue
        if c == d.element[0]:
            element, component = element + 1, 1
        elif c == d.component[0]:
            component += 1
        pos += 1
    return None


# Counts and references are n..6 in §301; the cap keeps int() away from the thousands of
# digits a broken file may hold (int() refuses more than 4300 and is quadratic below).
_MAX_DIGITS = 18


def as_number(value: str | bytes) -> int | None:
    """``value`` as an integer if it is 1-18 ASCII digits (leading zeros allowed: EDIFACT
    counts are numbers, so ``"02"`` is two), else None.

    >>> as_number("010"), as_number(b"2x"), as_number("\xb2")
    (10, None, None)
    """
    if not 0 < len(value) <= _MAX_DIGITS or not value.isascii() or not value.isdigit():
        return None
    return int(value)


def _is_utf8(buf: bytes) -> bool:
    try:
        buf.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _read_una(buf: bytes, problems: list[Violation]) -> tuple[Delimiters, int]:
    """Delimiters and the offset where UNB should start.

    UNA is exactly nine characters. If UNB follows at another distance the UNA is too
    short or too long (1SW02) and the defaults apply; a second UNA is 1SW06.
    """
    if not buf.startswith(b"UNA"):
        return DEFAULT, 0
    unb = buf.find(b"UNB", 3, 64)
    stop = unb
    while stop > 9 and buf[stop - 1] in (_CR, _LF):
        stop -= 1
    if unb >= 0 and stop != 9 and not buf.startswith(b"UNA", _skip_breaks(buf, 9, len(buf))):
        problems.append(_problem("1SW02", min(stop, 9), "UNA"))
        return DEFAULT, unb
    delims, found = una_problems(buf[:9])
    for code, off in found:
        problems.append(_problem(code, off, "UNA"))
    end = _skip_breaks(buf, 9, len(buf))
    while buf.startswith(b"UNA", end):
        problems.append(_problem("1SW06", end, "UNA"))
        end = _skip_breaks(buf, end + 9, len(buf))
    return (delims or DEFAULT), end


def _first_foreign(d: Delimiters) -> int:
    """Offset in the UNA of the first service character that is not the §301 one.

    §301 knows only ``UNA:+,? '``. The file is still read with the characters it
    declares (so its messages get their own findings too), but it is rejected.
    """
    for i, (ours, theirs) in enumerate(zip(DEFAULT.una(), d.una(), strict=True)):
        if ours != theirs:
            return i
    return 0


def _skip_breaks(buf: bytes, pos: int, n: int) -> int:
    while pos < n and buf[pos] in (_CR, _LF):
        pos += 1
    return pos


_PREPARED = re.compile(r"\d{6}:\d{4}")


# Files of one sender and minute share the value; the datetime is immutable.
@lru_cache(maxsize=4096)
def prepared_time(value: str) -> dt.datetime | None:
    """UNB S004 ``JJMMTT:HHMM`` as a datetime, or None if it is not a real date and time."""
    if len(value) != 11 or not _PREPARED.fullmatch(value):
        return None
    try:  # not strptime: ten times slower, and this runs once per interchange
        year = int(value[0:2])
        year += 2000 if year < 69 else 1900  # the pivot of strptime's %y
        return dt.datetime(year, int(value[2:4]), int(value[4:6]),
                           int(value[7:9]), int(value[9:11]))
    except ValueError:
        return None


# UNB S004 JJMMTT:HHMM as a real date and time, :func:`prepared_time`'s answer as one
# expression (its two-digit years are 1969-2068: a leap year is one divisible by four)
_PREPARED_REAL = (
    rb"(?:\d\d(?:(?:0[13578]|1[02])(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)(?:0[1-9]|[12]\d|30)"
    rb"|02(?:0[1-9]|1\d|2[0-8]))|(?:[02468][048]|[13579][26])0229):(?:[01]\d|2[0-3])[0-5]\d"
)
# The UNB of a §301 file in its usual form; anything else takes the general path.
_UNB_PLAIN = re.compile(
    rb"UNB\+UNOC:3\+(\d{9})\+(\d{9})\+(" + _PREPARED_REAL
    + rb")\+(\d{5})\+\+([ -&(-*,-9;->@-~]{8,11})"
)


def _unb_fields(
    buf: bytes, start: int, end: int, d: Delimiters, problems: list[Violation]
) -> dict[str, str]:
    m = _UNB_PLAIN.fullmatch(buf, start, end) if d is DEFAULT else None
    if m is not None:
        sender, receiver, prepared, reference, app = (g.decode("latin-1") for g in m.groups())
        if ik_valid(sender) and ik_valid(receiver):  # the pattern checked the date
            return {"syntax": "UNOC:3", "sender_ik": sender, "receiver_ik": receiver,
                    "prepared": prepared, "reference": reference, "password": "",
                    "application_reference": app, "test_indicator": ""}
    els = split_elements(buf, start, end, d)

    def get(i: int, c: int = 0) -> str:
        if i < len(els) and c < len(els[i]):
            return unescape(els[i][c], d).decode("latin-1")
        return ""

    f = {
        "syntax": get(1) + (":" + get(1, 1) if len(els) > 1 and len(els[1]) > 1 else ""),
        "sender_ik": get(2),
        "receiver_ik": get(3),
        "prepared": get(4) + (":" + get(4, 1) if len(els) > 4 and len(els[4]) > 1 else ""),
        "reference": get(5),
        "password": get(6),
        "application_reference": get(7),
        "test_indicator": get(11),
    }

    def bad(code: str, element: int) -> None:
        problems.append(_problem(code, start, "UNB", 0, element))

    if len(els) > 12:
        bad("1SW27", 12)
    if f["syntax"] != "UNOC:3":
        bad("1SW07", 1)
    if not ik_valid(f["sender_ik"]):
        bad("1SW08", 2)
    if not ik_valid(f["receiver_ik"]):
        bad("1SW08", 3)
    if prepared_time(f["prepared"]) is None:
        bad("1SW09", 4)
    if not re.fullmatch(r"\d{5}", f["reference"]):
        bad("1SW10", 5)
    if f["password"]:
        bad("1SW11", 6)
    if not 8 <= len(f["application_reference"]) <= 11:
        bad("1SW12", 7)
    return f


def _walk(
    buf: bytes, pos: int, d: Delimiters, released: bool, problems: list[Violation]
) -> tuple[list[MessageSpan], tuple[int, int] | None]:
    """Segment-by-segment walk: handles release characters and every anomaly."""
    n = len(buf)
    term = d.terminator
    seg_re = _segment_re(d)
    find = buf.find

    def seg_end(p: int) -> int:
        if not released:
            return find(term, p)
        m = seg_re.match(buf, p)
        return m.end() - 1 if m else -1

    spans: list[MessageSpan] = []
    msg_start = -1
    msg_segments = 0
    msg_released = False
    unz: tuple[int, int] | None = None
    after_unt = False  # a segment between messages is an error
    rel_byte = d.release
    seg_no = 1
    while True:
        pos = _skip_breaks(buf, pos, n)
        if pos >= n:
            break
        end = seg_end(pos)
        if end < 0:
            problems.append(_problem("1SW16", pos))
            break
        seg_no += 1
        tag = buf[pos : pos + 3] if _is_service(buf, pos, end, d) else b""
        if tag == b"UNH":
            if msg_start >= 0:  # previous message never saw its UNT
                spans.append(
                    MessageSpan(len(spans) + 1, msg_start, pos, msg_segments, False, msg_released)
                )
            msg_start, msg_segments, msg_released = pos, 1, False
            if released:
                msg_released = rel_byte in buf[pos:end]
        elif msg_start >= 0 and tag != b"UNZ":
            msg_segments += 1
            if released and not msg_released:
                msg_released = rel_byte in buf[pos:end]
            if tag == b"UNT":
                spans.append(
                    MessageSpan(len(spans) + 1, msg_start, end + 1, msg_segments, True,
                                msg_released)
                )
                msg_start = -1
                after_unt = True
        elif tag == b"UNZ":
            if msg_start >= 0:
                spans.append(
                    MessageSpan(len(spans) + 1, msg_start, pos, msg_segments, False, msg_released)
                )
                msg_start = -1
            unz = (pos, end)
            pos = _skip_breaks(buf, end + 1, n)
            if pos < n:
                problems.append(_problem("1SW24", pos))
            break
        elif tag == b"UNA":
            problems.append(_problem("1SW06", pos, "UNA"))
        else:
            problems.append(_problem("1SW23" if after_unt else "1SW13", pos, "", seg_no))
        pos = end + 1

    if msg_start >= 0:
        spans.append(MessageSpan(len(spans) + 1, msg_start, n, msg_segments, False, msg_released))
    return spans, unz


@lru_cache(maxsize=32)
def _service_re(d: Delimiters) -> re.Pattern[bytes]:
    """The next UNH/UNT/UNZ segment start: a tag after a terminator, followed by a data
    element separator or the terminator (the same rule as :func:`_is_service`)."""
    t = re.escape(d.terminator)
    return re.compile(t + b"[\r\n]*(UN[HTZ])(?=[" + re.escape(d.element) + t + b"])")


def _is_service(buf: bytes, pos: int, end: int, d: Delimiters) -> bool:
    """A UNx tag at ``pos``, followed by a data element separator or the terminator
    (UNA, whose own characters follow its tag directly, is always one)."""
    if buf[pos] != _U or buf[pos + 1 : pos + 2] != b"N":
        return False
    return end == pos + 3 or buf[pos + 3 : pos + 4] == d.element or buf[pos + 2] == ord("A")


def _released_message(buf: bytes, start: int, d: Delimiters) -> tuple[int, int] | None:
    """(end, segment count) of the message at ``start`` read segment by segment, or None
    if the next service segment after its UNH is not its UNT."""
    for segments, (s, e) in enumerate(iter_segments(buf, start, len(buf), d), start=1):
        if s != start and _is_service(buf, s, e, d):
            if buf[s : s + 3] != b"UNT" or e == len(buf):
                return None
            return e + 1, segments
    return None


def _jump(
    buf: bytes, pos: int, d: Delimiters, released: bool
) -> tuple[list[MessageSpan], tuple[int, int] | None] | None:
    """Message spans of a well-formed interchange found with C-level searches (segment
    counts by ``bytes.count``), or None at the first anomaly so that :func:`_walk`
    reports it precisely.

    A message that contains the release character is checked segment by segment, so an
    escaped terminator in data can never end a message early; the other messages of the
    interchange keep the fast route.
    """
    n = len(buf)
    term, rel = d.terminator, d.release
    unh, unz_tag = b"UNH" + d.element, b"UNZ" + d.element
    search = _service_re(d).search
    find, count, startswith = buf.find, buf.count, buf.startswith
    spans: list[MessageSpan] = []
    while pos < n:
        if startswith(unh, pos):
            m = search(buf, pos)
            if m is None:
                return None
            if released and find(rel, pos, m.start(1)) >= 0:
                found = _released_message(buf, pos, d)
                if found is None:
                    return None
                end, segments = found
                has_release = True
            else:
                if m.group(1) != b"UNT":
                    return None
                end = find(term, m.start(1))
                if end < 0 or (released and find(rel, m.start(1), end) >= 0):
                    return None
                end += 1
                segments, has_release = count(term, pos, end), False
            spans.append(MessageSpan(len(spans) + 1, pos, end, segments, True, has_release))
            pos = end
            while pos < n and buf[pos] in (_CR, _LF):
                pos += 1
        elif startswith(unz_tag, pos):
            end = find(term, pos)
            if end < 0 or buf[end + 1 :].strip(b"\r\n") or (released and rel in buf[pos:end]):
                return None
            return spans, (pos, end)
        else:
            return None
    return None


# The usual §301 file: default delimiters (with or without their UNA), the plain UNB,
# no release character, no line breaks, a plain UNZ. Anything else takes the walk.
_UNA_DEFAULT = DEFAULT.una()
_UNB_SEGMENT = re.compile(_UNB_PLAIN.pattern + rb"'")
_UNZ_PLAIN = re.compile(rb"UNZ\+(\d{1,6})\+(\d{5})'")
# allowed characters minus the release character and line breaks: one pass of
# ``translate`` checks the character set and that the file is plain
_PLAIN_CHARS = bytes(c for c in _ALLOWED if c not in b"?\r\n")
# UTF-8 continuation bytes an allowed character can be (0x80-0x9F are control bytes):
# a non-ASCII UTF-8 text has at least one, an ISO 8859-1 file of names and addresses
# rarely. Kept out of one ``translate`` with the character-set test, so the usual file
# needs no trial decode (whose failure, an exception, cost more than the rest of
# tokenizing a one-message file).
_CONTINUATION = bytes(range(0xA0, 0xC0))
_PLAIN_NOT_CONTINUATION = bytes(c for c in _PLAIN_CHARS if c not in _CONTINUATION)


def _scan_plain(buf: bytes) -> Interchange | None:
    """:func:`scan` of the usual file by a handful of C-level searches, or None when the
    file is anything but plain (then the general walk finds and reports what it is).

    Same result as the walk wherever it answers (``tests/codecs/sgb301`` compares both
    on generated corpora and on fuzzed input).
    """
    pos = 9 if buf.startswith(_UNA_DEFAULT) else 0
    m = _UNB_SEGMENT.match(buf, pos)
    if m is None:
        return None
    rest = buf.translate(None, _PLAIN_NOT_CONTINUATION)  # usually empty
    if rest and (rest.translate(None, _CONTINUATION) or _is_utf8(buf)):
        return None
    sender, receiver, prepared, reference, app = m.groups()
    sender, receiver = sender.decode("latin-1"), receiver.decode("latin-1")
    if not (ik_valid(sender) and ik_valid(receiver)):  # the pattern checked the date
        return None
    pos = m.end()
    find, count, startswith = buf.find, buf.count, buf.startswith
    spans: list[MessageSpan] = []
    while startswith(b"UNH+", pos):
        # the next service segment after this UNH must be its UNT
        unt = find(b"'UN", pos + 3)
        if unt < 0 or not startswith(b"'UNT+", unt):
            return None
        end = find(b"'", unt + 1) + 1
        if end <= 0:
            return None
        spans.append(MessageSpan(len(spans) + 1, pos, end, count(b"'", pos, end), True, False))
        pos = end
    z = _UNZ_PLAIN.fullmatch(buf, pos)
    if not spans or z is None or int(z.group(1)) != len(spans) or z.group(2) != m.group(4):
        return None
    return Interchange(delimiters=DEFAULT, syntax="UNOC:3", sender_ik=sender,
                       receiver_ik=receiver, prepared=prepared.decode("latin-1"),
                       reference=reference.decode("latin-1"),
                       application_reference=app.decode("latin-1"), messages=tuple(spans),
                       has_unb=True)


def scan(data: bytes | bytearray | memoryview) -> Interchange:
    """Walk one interchange and return its envelope and message spans.

    Never raises for bad input: stage-1 findings are in ``Interchange.problems``
    (file level) and message spans are marked incomplete where UNT is missing.
    """
    buf = _as_bytes(data)
    plain = _scan_plain(buf)
    return plain if plain is not None else _scan_walk(buf)


def _scan_walk(buf: bytes) -> Interchange:
    """:func:`scan` of any file, segment by segment where needed."""
    n = len(buf)
    problems: list[Violation] = []
    if not buf.strip(b" \r\n\t"):
        return Interchange(problems=(_problem("1SW01", 0),))
    # UTF-8 first: its continuation bytes 0x80-0x9F would otherwise look like control bytes.
    if not buf.isascii() and _is_utf8(buf):
        problems.append(_problem("1SW25", 0))
    elif buf.translate(None, _ALLOWED):
        m = _NOT_ALLOWED.search(buf)
        problems.append(_problem("1SW17", m.start() if m else 0))

    d, pos = _read_una(buf, problems)
    if d != DEFAULT:
        problems.append(_problem("1SW28", _first_foreign(d), "UNA"))
    pos = _skip_breaks(buf, pos, n)
    released = d.release in buf

    # ---- UNB ------------------------------------------------------------------------
    if not buf.startswith(b"UNB", pos):
        problems.append(_problem("10066", pos, "UNB"))
        return Interchange(delimiters=d, problems=tuple(problems))
    if released:
        seg = _segment_re(d).match(buf, pos)
        end = seg.end() - 1 if seg else -1
    else:
        end = buf.find(d.terminator, pos)
    if end < 0:
        problems.append(_problem("1SW16", pos, "UNB"))
        problems.append(_problem("1SW15", n, "UNZ"))
        return Interchange(delimiters=d, problems=tuple(problems), has_unb=True)
    unb = _unb_fields(buf, pos, end, d, problems)
    pos = _skip_breaks(buf, end + 1, n)

    # ---- messages: jump from message to message when the buffer is plain -------------
    found = _jump(buf, pos, d, released)
    if found is None:
        found = _walk(buf, pos, d, released, problems)
    spans, unz = found

    if not spans and unz is not None and not any(p.code == "1SW13" for p in problems):
        problems.append(_problem("1SW13", unz[0], "UNH"))
    if unz is None:
        problems.append(_problem("1SW15", n, "UNZ"))
    else:
        els = split_elements(buf, unz[0], unz[1], d)
        count = els[1][0] if len(els) > 1 else b""
        ref = unescape(els[2][0], d).decode("latin-1") if len(els) > 2 else ""
        if as_number(count) != len(spans):
            problems.append(_problem("1SW21", unz[0], "UNZ", 0, 1))
        if ref != unb["reference"]:
            problems.append(_problem("1SW22", unz[0], "UNZ", 0, 2))
    return Interchange(
        delimiters=d,
        syntax=unb["syntax"],
        sender_ik=unb["sender_ik"],
        receiver_ik=unb["receiver_ik"],
        prepared=unb["prepared"],
        reference=unb["reference"],
        application_reference=unb["application_reference"],
        test_indicator=unb["test_indicator"],
        messages=tuple(spans),
        problems=tuple(problems),
        has_unb=True,
    )


def segment_spans(buf: bytes, start: int, end: int, d: Delimiters = DEFAULT
                  ) -> list[tuple[int, int]]:
    """``list(iter_segments(...))``, by a plain loop of ``find`` where the range holds
    neither the release character nor line breaks (the usual message).

    >>> segment_spans(b"UNH+1'FKT+10'UNT+2+1'", 0, 21)
    [(0, 5), (6, 12), (13, 20)]
    """
    find = buf.find
    if find(d.release, start, end) >= 0 or find(b"\n", start, end) >= 0 or find(
            b"\r", start, end) >= 0:
        return list(iter_segments(buf, start, end, d))
    term = d.terminator
    out = []
    pos = start
    while pos < end:
        stop = find(term, pos, end)
        if stop < 0:
            out.append((pos, end))
            break
        out.append((pos, stop))
        pos = stop + 1
    return out


def iter_segments(buf: bytes, start: int, end: int, d: Delimiters = DEFAULT) -> Iterator[
    tuple[int, int]
]:
    """Spans (start, end without terminator) of the segments in ``buf[start:end]``.

    A trailing segment without terminator is yielded as ``(s, end)`` too; callers that
    must not accept it compare with ``end``.
    """
    term = d.terminator
    released = d.release in buf[start:end]
    seg_re = _segment_re(d)
    pos = start
    while True:
        pos = _skip_breaks(buf, pos, end)
        if pos >= end:
            return
        if released:
            m = seg_re.match(buf, pos, end)
            stop = m.end() - 1 if m else -1
        else:
            stop = buf.find(term, pos, end)
        if stop < 0:
            yield pos, end
            return
        yield pos, stop
        pos = stop + 1


def tokenize(data: bytes | bytearray | memoryview) -> Iterator[Token]:
    """Strict lazy tokenizer: every segment of the buffer, UNA excluded.

    Raises :class:`EdifactSyntaxError` (with byte offset and segment number) for a bad
    UNA or an unterminated segment.

    >>> [t.tag for t in tokenize(b"UNB+UNOC:3'UNZ+0+1'")]
    ['UNB', 'UNZ']
    """
    buf = _as_bytes(data)
    problems: list[Violation] = []
    d, pos = _read_una(buf, problems)
    if problems:
        raise EdifactSyntaxError(problems[0].text, offset=problems[0].offset)
    for number, (s, e) in enumerate(iter_segments(buf, pos, len(buf), d), start=1):
        if e == len(buf) and not buf.endswith(d.terminator):
            raise EdifactSyntaxError(text_for("1SW16"), offset=s, segment_number=number)
        sep = len(buf[s:e].split(d.element, 1)[0].split(d.component, 1)[0])
        tag = buf[s : s + sep].decode("latin-1")
        yield Token(tag, s, e, number)
