"""Fuzzing on structured mutations of real interchanges: the validator never raises.

The inputs are the seed examples (``sgb301.examples``) and the fixture builders' edits
of them, mutated the way broken senders break files: cut at any byte, segments
duplicated, deleted or swapped, service characters inserted, bytes flipped. Every
mode (``uv``, ``gkv``) with and without the test flag must return a report, and a reply
built from it may fail only with the documented :class:`~sgb301.ReplyError`.

The small profile runs in every test run; the big one (``slow``) in ``make test``.
"""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sgb301 import InterchangeReport, ReplyError, ValidationOptions, Validator, examples, scan
from sgb301.checker import check_message, check_segments
from sgb301.fields import Fields
from sgb301.replies import build_reply

NOW = dt.datetime(2015, 11, 28, 9, 30)
UNB = b"UNB+UNOC:3+260510223+120591481+151127:1200+00001++TUVK0001'"

_COMMON = {"derandomize": True, "deadline": None, "print_blob": True,
           "suppress_health_check": [HealthCheck.too_slow]}
FAST = settings(max_examples=150, **_COMMON)
BIG = settings(max_examples=2_000, **_COMMON)

VALIDATORS = [
    (mode, test, Validator(ValidationOptions(mode=mode, test=test)))
    for mode in ("uv", "gkv") for test in (False, True)
]


def _fixed(name: str, reference: str = "00001") -> bytes:
    """Seed message ``name`` with reference ``reference`` and a right UNT count."""
    segs = examples.message(name).splitlines()
    segs[0] = segs[0][:4] + reference.encode() + segs[0][9:]
    segs[-1] = f"UNT+{len(segs)}+{reference}'".encode()
    return b"\n".join(segs) + b"\n"


def _corpus() -> list[bytes]:
    """Real interchanges: each seed example alone, the fixed RECH examples, two messages
    in one interchange (mutations cross message boundaries) and one with a UNA."""
    seeds = list(examples.load().values())
    hospital = {"sender": examples.HOSPITAL_IK, "receiver": examples.TEST_IK}
    fixed = [examples.wrap(_fixed(n), **hospital) for n in examples.MESSAGES
             if n.endswith("RECH")]
    two = examples.wrap(_fixed("8.1.1-AUFN") + _fixed("8.1.1-ENTL", "00002"), **hospital)
    return [*seeds, *fixed, two, b"UNA:+,? '" + seeds[0]]


CORPUS = _corpus()
# service characters and tags, plus a digit run longer than int() accepts
_SERVICE = [b"+", b":", b"'", b"?", b"UNH+", b"UNT+", b"UNZ+", b"UNA:+,? '", b"\n", b"9" * 4400]


def _segments(data: bytes) -> list[bytes]:
    """Terminator-included segments (line breaks dropped), ignoring release characters:
    mutations need plausible pieces, not an exact parse."""
    parts = data.replace(b"\n", b"").split(b"'")
    return [p + b"'" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """One real interchange with one to four structured mutations."""
    data = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["cut", "dup", "delete", "swap", "insert", "flip"]))
        segs = _segments(data)
        if op == "cut":
            data = data[: draw(st.integers(0, len(data)))]
        elif op in ("dup", "delete", "swap") and segs:
            i = draw(st.integers(0, len(segs) - 1))
            if op == "dup":
                segs.insert(i, segs[i])
            elif op == "delete":
                del segs[i]
            else:
                j = draw(st.integers(0, len(segs) - 1))
                segs[i], segs[j] = segs[j], segs[i]
            data = b"".join(segs)
        elif op == "insert":
            at = draw(st.integers(0, len(data)))
            data = data[:at] + draw(st.sampled_from(_SERVICE)) + data[at:]
        elif data:
            at = draw(st.integers(0, len(data) - 1))
            byte = draw(st.sampled_from(list(b"+:'? 0\x00\xe4")) | st.integers(0, 255))
            data = data[:at] + bytes([byte]) + data[at + 1 :]
    return data


def _replies_are_valid(data: bytes) -> None:
    """Every reply to ``data`` passes Prüfstufe 1 and 2 in its own mode and test flag
    (Stufe 3 may object: a reply echoes the INV/NAD it was given)."""
    for mode, _test, v in VALIDATORS:
        try:
            reply = build_reply(data, v.validate(data), now=NOW, mode=mode)
        except ReplyError:
            continue
        if reply is None:
            continue
        report = v.validate(reply.interchange)
        findings = [*report.file_errors, *(e for m in report.messages for e in m.errors)]
        assert [e for e in findings if e.stage <= 2 and e.code != "1SW00"] == [], (
            mode, _test, reply.interchange)


def _never_raises(data: bytes) -> None:
    for mode, _test, v in VALIDATORS:
        report = v.validate(data)
        assert isinstance(report, InterchangeReport)
        if report.file_errors:
            assert all(not m.accepted for m in report.messages)
        for m in report.messages:
            assert m.accepted == (m.errors == ())
        with contextlib.suppress(ReplyError):  # the one documented failure
            build_reply(data, report, now=NOW, mode=mode)


# Messages whose UNH/UNT carry no elements, at the end of the text: fixed offsets into
# the UNH once read past the buffer (IndexError in the fast path).
SHORT_TAILS = [
    UNB + b"UNH'UNT'",
    UNB + b"UNH'UNT'UNZ+1+00001'",
    UNB + b"UNH'",
    UNB + b"UNH+'UNT+'",
    UNB + b"UNH+00001'UNT+2+00001'",
    UNB + b"UNH+00001+AUFN'UNT'",
]


@pytest.mark.parametrize("data", SHORT_TAILS, ids=repr)
def test_short_trailing_messages_are_findings(data: bytes) -> None:
    for _mode, _test, v in VALIDATORS:
        report = v.validate(data)
        assert not report.accepted
        assert report.messages and all(m.errors for m in report.messages)


@FAST
@given(data=mutated())
@example(data=UNB + b"UNH'UNT'")
def test_mutated_interchanges_never_raise(data: bytes) -> None:
    _never_raises(data)


@pytest.mark.slow
@BIG
@given(data=mutated())
def test_mutated_interchanges_never_raise_big(data: bytes) -> None:
    _never_raises(data)


@FAST
@given(data=mutated() | st.sampled_from(CORPUS))
def test_every_reply_passes_stage_1_and_2(data: bytes) -> None:
    _replies_are_valid(data)


@pytest.mark.slow
@BIG
@given(data=mutated())
def test_every_reply_passes_stage_1_and_2_big(data: bytes) -> None:
    _replies_are_valid(data)


def _values(f: Fields) -> dict[str, object]:
    """Every attribute of ``f`` (compiled, Fields has no ``__dict__``)."""
    return {name: getattr(f, name) for name in dir(Fields) if not name.startswith("_")}


def _same_findings_with_and_without_segment_patterns(data: bytes) -> None:
    ic = scan(data)
    for _, _, v in VALIDATORS:
        for span in ic.messages:
            reference = check_message(data, span.start, span.end, ic.delimiters, v.rules)
            shortcut = check_message(data, span.start, span.end, ic.delimiters, v.rules,
                                     v._fast.segment)
            assert shortcut[0] == reference[0], (span, reference[0], shortcut[0])
            assert _values(shortcut[1]) == _values(reference[1])


@given(data=mutated() | st.sampled_from(CORPUS))
@FAST
def test_segment_patterns_change_no_finding(data: bytes) -> None:
    """The exact checker's shortcut (a segment matching its layout pattern is not
    checked element by element) finds exactly what the element-wise check finds."""
    _same_findings_with_and_without_segment_patterns(data)


@given(data=mutated())
@BIG
@pytest.mark.slow
def test_segment_patterns_change_no_finding_big(data: bytes) -> None:
    _same_findings_with_and_without_segment_patterns(data)


_VALUE_BYTES = list(b"0123456789AZaz .,-\xe4\x00")
_FIELDS = ("type", "version", "reference", "processing", "sequence", "sender_ik",
           "receiver_ik", "case", "unfalltag", "unt_count", "unt_reference", "complete_unt",
           "fkt_number", "fkt_offset", "unt_offset")


@st.composite
def bad_values(draw: st.DrawFn) -> bytes:
    """One real interchange with one to three bytes of its values changed (service
    characters stay): the usual rejected message, one or a few bad values."""
    data = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data) - 1))
        if data[at] not in b"+:'?\r\n":
            data[at] = draw(st.sampled_from(_VALUE_BYTES))
    return bytes(data)


def _located_is_the_walk(data: bytes) -> int:
    """Where the locating pattern takes a message, its findings and fields are the
    element-wise walk's; returns how many messages it took."""
    ic = scan(data)
    text = data.decode("latin-1")
    taken = 0
    for _, _, v in VALIDATORS:
        for span in ic.messages:
            located = v._fast.locate(text, span, ic.delimiters)
            if located is None:
                continue
            taken += 1
            f, suspects = located
            found = check_segments(data, span.start, suspects, ic.delimiters, v.rules, f)
            reference, rf = check_message(data, span.start, span.end, ic.delimiters, v.rules)
            assert found == reference, (span, reference, found)
            assert [getattr(f, a) for a in _FIELDS] == [getattr(rf, a) for a in _FIELDS]
    return taken


@given(data=bad_values() | mutated() | st.sampled_from(CORPUS))
@FAST
def test_located_segments_find_what_the_walk_finds(data: bytes) -> None:
    """The rejected message's shortcut (one locating match, then only the segments it
    names checked) finds exactly what the element-wise walk finds."""
    _located_is_the_walk(data)


@given(data=bad_values() | mutated())
@BIG
@pytest.mark.slow
def test_located_segments_find_what_the_walk_finds_big(data: bytes) -> None:
    _located_is_the_walk(data)


def test_a_bad_value_is_located_in_its_segment() -> None:
    """A wrong IK check digit and a code outside its list: one locating match each,
    naming just the segment that holds the value."""
    data = examples.load()["8.1.1-AUFN"]
    fkt = data.index(b"FKT+")
    ik = data.index(examples.TEST_IK.encode(), fkt)
    wrong_ik = data[: ik + 8] + bytes([(data[ik + 8] - 48 + 1) % 10 + 48]) + data[ik + 9 :]
    wrong_code = data[: fkt + 4] + b"99" + data[fkt + 6 :]
    v = VALIDATORS[0][2]
    for bad in (wrong_ik, wrong_code):
        ic = scan(bad)
        located = v._fast.locate(bad.decode("latin-1"), ic.messages[0], ic.delimiters)
        assert located is not None
        f, suspects = located
        assert (f.type, f.reference) == ("AUFN", "00001")
        assert suspects == [(fkt, bad.index(b"'", fkt))]
        assert not v.validate(bad).accepted
    assert _located_is_the_walk(wrong_ik) == 4  # every mode takes it
