"""Replies of the data acceptance point: FEHL for rejected messages, KOUB receipts.

Per input interchange one reply interchange goes back to the sender (UNB IKs swapped):
one FEHL per rejected message (FKT IKs swapped, INV echoed when it was clean, one FHL
per error), or a single FEHL for the file when Prüfstufe 1 rejected the whole file;
and in the UV procedure the automated KOUB for every accepted AUFN — a receipt, not a
cost commitment (Nachtrag Nr. 3): FKT IKs swapped, INV and NAD echoed, KOS with the
processing date, as in the DGUV examples.

The reply interchange is the data acceptance point's own file: its Dateinummer comes
from a hash of the input (:func:`reply_reference`, so a replay builds the same bytes),
and nothing broken in the input (reference, Anwendungsreferenz, tags) is echoed into
its envelope, so every reply passes Prüfstufe 1 and 2 itself.

The FHL layout is Stellwerk's ([U] in :mod:`sgb301.layouts`): code, place
(segment:number:element:component), text, reference of the faulty message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from functools import lru_cache

from .checker import is_number
from .delimiters import DEFAULT, Delimiters
from .errors import ReplyError
from .ik import ik_valid
from .model import ACCEPTED, InterchangeReport, MessageVerdict, Reply, Violation
from .rules import TEST_MARKER, UV_TEST_IK
from .serializer import segment
from .tokenizer import iter_segments, split_elements, unescape

__all__ = ["Reply", "build_reply", "input_digest", "needs_reply", "reference_of",
           "reply_reference"]

_FHL_TEXT_MAX = 256
# The sender's Anwendungsreferenz is echoed (it carries the test marker) only in its
# plain form: 8-11 letters and digits.
_APP_REF = re.compile(r"[0-9A-Za-z]{8,11}")
_TAG = re.compile(r"[A-Z][A-Z0-9]{2}")


def _segments_of(buf: bytes, v: MessageVerdict, d: Delimiters,
                 tags: tuple[str, ...]) -> dict[str, bytes]:
    """First occurrence of each of ``tags`` in a message, as a segment for the reply.

    With the reply's own (default) delimiters the input bytes are copied unchanged;
    otherwise the segment is decoded and written again with the default delimiters.
    """
    if d is DEFAULT and buf.find(b"?", v.start, v.end) < 0:
        found = _found_plain(buf, v, tags)
        if found is not None:
            return found
    out: dict[str, bytes] = {}
    wanted = {t.encode("ascii") for t in tags}
    for s, e in iter_segments(buf, v.start, v.end, d):
        tag = buf[s : s + 3]
        if tag not in wanted or tag.decode("ascii") in out:
            continue
        if d == DEFAULT:
            out[tag.decode("ascii")] = buf[s : e + 1]
        else:
            els = [[unescape(c, d).decode("latin-1") for c in el]
                   for el in split_elements(buf, s, e, d)]
            out[els[0][0]] = segment(els[0][0], *els[1:])
        if len(out) == len(wanted):
            break
    return out


def _found_plain(buf: bytes, v: MessageVerdict, tags: tuple[str, ...]
                 ) -> dict[str, bytes] | None:
    """:func:`_segments_of` by C-level searches, for a message without release
    characters and without line breaks between segments (then a ``'`` always ends a
    segment); None when a tag is not found that way (the segment walk decides)."""
    out: dict[str, bytes] = {}
    start_of, end_of = v.start, v.end
    for tag in tags:
        needle = _NEEDLES.get(tag) or b"'" + tag.encode("ascii") + b"+"
        start = buf.find(needle, start_of, end_of)
        if start < 0:
            if buf.find(b"\n", start_of, end_of) >= 0 or buf.find(b"\r", start_of, end_of) >= 0:
                return None
            continue  # no such segment in the message
        end = buf.find(b"'", start + 1, end_of)
        if end < 0:
            return None
        out[tag] = buf[start + 1 : end + 1]
    return out


#: What :func:`_found_plain` looks for, for the tags replies echo.
_NEEDLES = {tag: b"'" + tag.encode("ascii") + b"+" for tag in ("INV", "NAD")}


@lru_cache(maxsize=64)
def _stamps(minute: dt.datetime) -> tuple[bytes, str]:
    """KOS processing day JJJJMMTT and UNB S004 JJMMTT:HHMM of ``minute``: replies of
    one minute share them (the router passes record times cut to the minute)."""
    y, m, d = minute.year, minute.month, minute.day
    return (b"%04d%02d%02d" % (y, m, d),
            f"{y % 100:02d}{m:02d}{d:02d}:{minute.hour:02d}{minute.minute:02d}")


def _plain(tag: str, *elements: str) -> bytes:
    """A segment of values known to hold no service characters (digits, IKs, codes)."""
    return ("+".join((tag, *elements)) + "'").encode("ascii")


def _fhl(err: Violation, reference: str) -> bytes:
    # the tag comes from the input: a broken one (control bytes, say) is not repeated
    tag = err.segment if _TAG.fullmatch(err.segment) else ""
    place = [tag, str(err.segment_number) if err.segment_number else "",
             str(err.element) if err.element else "", str(err.component) if err.component
             else ""]
    ref = reference if len(reference) == 5 and is_number(reference) else ""
    return segment("FHL", err.code, place, err.text[:_FHL_TEXT_MAX], ref)


def _reference_at(report: InterchangeReport, offset: int) -> str:
    """UNH reference of the message holding ``offset`` ("" outside every message): a
    file-level finding in a message's framing (UNT count, say) still names it."""
    for v in report.messages:
        if v.start <= offset < v.end:
            return v.reference
    return ""


class _Writer:
    """Collects reply messages and numbers them 00001, 00002, …"""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.kinds: list[str] = []

    def koub(self, v: MessageVerdict, report: InterchangeReport, segs: dict[str, bytes],
             day: bytes) -> None:
        """The automated KOUB for an accepted AUFN: FKT IKs swapped, INV and NAD
        echoed, KOS with the processing date. One formatting pass: it is the reply of
        nearly every admission."""
        n = len(self.messages) + 1
        nad = segs.get("NAD", b"")
        self.messages.append(b"UNH+%05d+KOUB:%s:000:00'%s%s%sKOS+%s+01+%s'UNT+%d+%05d'" % (
            n, _version(v).encode("ascii"), _fkt(v, report, test=False), segs["INV"], nad,
            day, day, 6 if nad else 5, n))
        self.kinds.append("KOUB")

    def add(self, kind: str, version: str, body: Iterable[bytes]) -> None:
        ref = f"{len(self.messages) + 1:05d}"
        segs = [_plain("UNH", ref, f"{kind}:{version}:000:00"), *body]
        segs.append(_plain("UNT", str(len(segs) + 1), ref))
        self.messages.append(b"".join(segs))
        self.kinds.append(kind)


def _fkt(v: MessageVerdict, report: InterchangeReport, *, test: bool) -> bytes:
    ic = report.interchange
    ours = v.receiver_ik if ik_valid(v.receiver_ik) else ic.receiver_ik
    theirs = v.sender_ik if ik_valid(v.sender_ik) else ic.sender_ik
    if test:
        ours = UV_TEST_IK
    sequence = v.sequence if len(v.sequence) == 2 and is_number(v.sequence) else "01"
    return f"FKT+10+{sequence}+{ours}+{theirs}'".encode("ascii")


def _version(v: MessageVerdict) -> str:
    return v.version if len(v.version) == 2 and is_number(v.version) and int(
        v.version) >= 12 else "13"


def reply_reference(buf: bytes) -> str:
    """The Dateinummer (UNB 0020) of the reply to ``buf``: 00001-99999 from a hash of
    the input, so a replayed file gets the very same reply, byte for byte.

    The reply is the data acceptance point's own file, so it carries its own number,
    never an echo of the sender's (which may be anything in a rejected file).

    >>> reply_reference(b"UNB+...") == reply_reference(b"UNB+...")
    True
    """
    return reference_of(input_digest(buf))


def input_digest(buf: bytes | memoryview) -> bytes:
    """The 8-byte BLAKE2b digest of an input file, from which :func:`reply_reference`
    numbers its reply (callers that also name the file by it hash once)."""
    return hashlib.blake2b(buf, digest_size=8).digest()


def reference_of(digest: bytes) -> str:
    """:func:`reply_reference` from the file's :func:`input_digest`."""
    return f"{int.from_bytes(digest, 'big') % 99_999 + 1:05d}"


def needs_reply(report: InterchangeReport, mode: str = "uv") -> bool:
    """Whether :func:`build_reply` has anything to answer: a file-level finding, a
    rejected message, or (UV) an AUFN to confirm with a KOUB. Cheap: callers ask first
    and skip the reply's inputs (its time, its Dateinummer hash) for the rest.

    >>> from sgb301 import Validator
    >>> needs_reply(Validator().validate(b"garbage"))
    True
    """
    if report.file_errors:
        return True
    uv = mode == "uv"
    # a plain loop, not any() over a generator: asked twice per record on the hot path
    for v in report.messages:  # noqa: SIM110
        if v.verdict != ACCEPTED or (uv and v.type == "AUFN"):
            return True
    return False


def build_reply(
    buf: bytes,
    report: InterchangeReport,
    *,
    now: dt.datetime,
    mode: str = "uv",
    reference: str | None = None,
) -> Reply | None:
    """The reply interchange for ``report`` (validated from ``buf``), or None if
    nothing is to be answered (GKV mode and all accepted).

    ``reference`` is the reply's Dateinummer (five digits); by default
    :func:`reply_reference` of ``buf``.

    Raises :class:`ReplyError` when the sender cannot be addressed (no UNB or an
    invalid sender IK in it; such a file is reported out of band) or ``reference`` is
    not five digits.
    """
    if reference is not None and not (len(reference) == 5 and is_number(reference)):
        raise ReplyError(f"reply Dateinummer must be five digits, not {reference!r}")
    ic = report.interchange
    if not ic.has_unb or not ik_valid(ic.sender_ik) or not ik_valid(ic.receiver_ik):
        raise ReplyError("no valid UNB sender/receiver IK to address a reply to")
    if not needs_reply(report, mode):
        return None
    if reference is None:
        reference = reply_reference(buf)
    d: Delimiters = ic.delimiters
    w = _Writer()
    day, prepared = _stamps(now)
    test = report.test
    if report.file_errors:
        fhl = [_fhl(e, _reference_at(report, e.offset)) for e in report.file_errors]
        for v in report.messages:
            fhl += [_fhl(e, v.reference) for e in v.errors if e.code != "1SW00"]
        w.add("FEHL", "13", [_plain("FKT", "10", "01", UV_TEST_IK if test else ic.receiver_ik,
                                    ic.sender_ik), *fhl])
    else:
        for v in report.messages:
            if v.verdict != ACCEPTED:  # not the property: a Python call per message
                body = [_fkt(v, report, test=test or v.test)]
                if not any(e.segment == "INV" for e in v.errors):
                    body += _segments_of(buf, v, d, ("INV",)).values()
                body += [_fhl(e, v.reference) for e in v.errors]
                w.add("FEHL", _version(v), body)
            elif mode == "uv" and v.type == "AUFN":
                w.koub(v, report, _segments_of(buf, v, d, ("INV", "NAD")), day)
    if not w.messages:
        return None
    app = ic.application_reference
    if not _APP_REF.fullmatch(app):  # never echo what made the file fail
        app = TEST_MARKER + "001" if test or ic.receiver_ik == UV_TEST_IK else "EUVK0001"
    # every part is digits or letters (the IKs are valid, app matches _APP_REF)
    head = f"UNB+UNOC:3+{ic.receiver_ik}+{ic.sender_ik}+{prepared}+{reference}++{app}'"
    tail = f"UNZ+{len(w.messages)}+{reference}'"
    return Reply(ic.sender_ik, ic.receiver_ik,
                 b"".join((head.encode("ascii"), *w.messages, tail.encode("ascii"))),
                 tuple(w.kinds))
