"""Replies of the data acceptance point: FEHL for rejected messages, KOUB receipts.

Per input interchange one reply interchange goes back to the sender (UNB IKs swapped):
one FEHL per rejected message (FKT IKs swapped, INV echoed when it was clean, one FHL
per error), or a single FEHL for the file when Prüfstufe 1 rejected the whole file;
and in the UV procedure the automated KOUB for every accepted AUFN — a receipt, not a
cost commitment (Nachtrag Nr. 3): FKT IKs swapped, INV and NAD echoed, KOS with the
processing date, as in the DGUV examples.

The FHL layout is Stellwerk's ([U] in :mod:`sgb301.layouts`): code, place
(segment:number:element:component), text, reference of the faulty message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import msgspec

from .checker import is_number
from .delimiters import DEFAULT, Delimiters
from .errors import ReplyError
from .ik import ik_valid
from .model import InterchangeReport, MessageVerdict, Violation
from .rules import UV_TEST_IK
from .serializer import segment
from .tokenizer import iter_segments, split_elements, unescape

__all__ = ["Reply", "build_reply"]

_FHL_TEXT_MAX = 256


class Reply(msgspec.Struct, frozen=True):
    """A reply interchange addressed to ``receiver_ik`` (the original sender).

    ``kinds`` lists the message types in order, e.g. ``("KOUB", "FEHL")``.
    """

    receiver_ik: str
    sender_ik: str
    interchange: bytes
    kinds: tuple[str, ...]


def _segments_of(buf: bytes, v: MessageVerdict, d: Delimiters) -> dict[str, list[list[str]]]:
    """First occurrence of each segment of a message, decoded."""
    out: dict[str, list[list[str]]] = {}
    for s, e in iter_segments(buf, v.start, v.end, d):
        els = [[unescape(c, d).decode("latin-1") for c in el] for el in
               split_elements(buf, s, e, d)]
        out.setdefault(els[0][0], els)
    return out


def _echo(els: list[list[str]]) -> bytes:
    return segment(els[0][0], *els[1:])


def _fhl(err: Violation, reference: str) -> bytes:
    place = [err.segment, str(err.segment_number) if err.segment_number else "",
             str(err.element) if err.element else "", str(err.component) if err.component
             else ""]
    ref = reference if len(reference) == 5 and is_number(reference) else ""
    return segment("FHL", err.code, place, err.text[:_FHL_TEXT_MAX], ref)


class _Writer:
    """Collects reply messages and numbers them 00001, 00002, …"""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.kinds: list[str] = []

    def add(self, kind: str, version: str, body: Iterable[bytes]) -> None:
        ref = f"{len(self.messages) + 1:05d}"
        segs = [segment("UNH", ref, [kind, version, "000", "00"]), *body]
        segs.append(segment("UNT", str(len(segs) + 1), ref))
        self.messages.append(b"".join(segs))
        self.kinds.append(kind)


def _fkt(v: MessageVerdict, report: InterchangeReport, *, test: bool) -> bytes:
    ic = report.interchange
    ours = v.receiver_ik if ik_valid(v.receiver_ik) else ic.receiver_ik
    theirs = v.sender_ik if ik_valid(v.sender_ik) else ic.sender_ik
    if test:
        ours = UV_TEST_IK
    sequence = v.sequence if len(v.sequence) == 2 and is_number(v.sequence) else "01"
    return segment("FKT", "10", sequence, ours, theirs)


def _version(v: MessageVerdict) -> str:
    return v.version if len(v.version) == 2 and is_number(v.version) and int(
        v.version) >= 12 else "13"


def build_reply(
    buf: bytes,
    report: InterchangeReport,
    *,
    now: dt.datetime,
    mode: str = "uv",
) -> Reply | None:
    """The reply interchange for ``report`` (validated from ``buf``), or None if
    nothing is to be answered (GKV mode and all accepted).

    Raises :class:`ReplyError` when the sender cannot be addressed (no UNB or an
    invalid sender IK in it): such a file is reported out of band.
    """
    ic = report.interchange
    if not ic.has_unb or not ik_valid(ic.sender_ik) or not ik_valid(ic.receiver_ik):
        raise ReplyError("no valid UNB sender/receiver IK to address a reply to")
    d: Delimiters = ic.delimiters
    w = _Writer()
    day = now.strftime("%Y%m%d")
    test = report.test
    if report.file_errors:
        fhl = [_fhl(e, "") for e in report.file_errors]
        for v in report.messages:
            fhl += [_fhl(e, v.reference) for e in v.errors if e.code != "1SW00"]
        w.add("FEHL", "13", [segment("FKT", "10", "01", UV_TEST_IK if test else ic.receiver_ik,
                                     ic.sender_ik), *fhl])
    else:
        for v in report.messages:
            if not v.accepted:
                segs = _segments_of(buf, v, d)
                body = [_fkt(v, report, test=test or v.test)]
                inv = segs.get("INV")
                if inv is not None and not any(e.segment == "INV" for e in v.errors):
                    body.append(_echo(inv))
                body += [_fhl(e, v.reference) for e in v.errors]
                w.add("FEHL", _version(v), body)
            elif mode == "uv" and v.type == "AUFN":
                segs = _segments_of(buf, v, d)
                body = [_fkt(v, report, test=False), _echo(segs["INV"])]
                if "NAD" in segs:
                    body.append(_echo(segs["NAD"]))
                body.append(segment("KOS", day, "01", day))
                w.add("KOUB", _version(v), body)
    if not w.messages:
        return None
    head = segment("UNB", ["UNOC", "3"], ic.receiver_ik, ic.sender_ik,
                   [now.strftime("%y%m%d"), now.strftime("%H%M")], ic.reference or "00001", "",
                   ic.application_reference if 8 <= len(ic.application_reference) <= 11
                   else "EUVK0001", d=DEFAULT)
    tail = segment("UNZ", str(len(w.messages)), ic.reference or "00001")
    return Reply(ic.sender_ik, ic.receiver_ik, head + b"".join(w.messages) + tail,
                 tuple(w.kinds))
