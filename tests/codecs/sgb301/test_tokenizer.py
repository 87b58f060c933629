"""Tokenizer: spans, offsets, zero-copy slices, the jump and walk scanners agree."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgb301 import DEFAULT, EdifactSyntaxError, decode, scan, tokenize
from sgb301.examples import load, message, wrap
from sgb301.tokenizer import _PREPARED_REAL, _jump, _scan_plain, _scan_walk, _walk, prepared_time


def test_message_span_is_the_raw_message() -> None:
    msgs = message("8.1.1-AUFN") + message("8.1.1-ENTL").replace(b"+00001", b"+00002")
    buf = wrap(msgs, sender="260510223", receiver="120591481")
    ic = scan(buf)
    assert [m.index for m in ic.messages] == [1, 2]
    first = memoryview(buf)[ic.messages[0].start : ic.messages[0].end]
    assert bytes(first) == message("8.1.1-AUFN").rstrip(b"\n")
    assert ic.messages[0].segments == 10 and ic.messages[1].segments == 15


def test_tokenize_yields_tags_offsets_and_numbers() -> None:
    buf = load()["8.1.2-AUFN"]
    toks = list(tokenize(buf))
    assert [t.tag for t in toks][:3] == ["UNB", "UNH", "FKT"]
    assert toks[-1].tag == "UNZ" and toks[-1].number == len(toks)
    fkt = toks[2]
    assert buf[fkt.start : fkt.end] == b"FKT+10+01+260510223+120591481"


def test_tokenize_raises_codec_error_with_position() -> None:
    with pytest.raises(EdifactSyntaxError) as exc:
        list(tokenize(b"UNB+UNOC:3'UNH+1"))
    assert exc.value.offset == 11 and exc.value.segment_number == 2


def test_custom_una_delimiters_are_honoured() -> None:
    buf = b"UNA|*.# ~UNB*UNOC|3*260510223*120591481*151127|1200*00001**TUVK0001~UNZ*0*00001~"
    ic = scan(buf)
    assert ic.delimiters.element == b"*" and ic.delimiters.terminator == b"~"
    assert ic.sender_ik == "260510223" and ic.reference == "00001"


def test_decode_reads_only_rule_segments() -> None:
    buf = load()["8.1.1-ENTL"]
    m = decode(buf, scan(buf).messages[0])
    assert m.type == "ENTL" and m.etl is not None and m.etl.reason == "069"
    assert m.inv is not None and m.inv.case == "1234567" and not m.inv.has_insured_data
    assert not hasattr(m, "nad")


_PIECES = [message(k).replace(b"\n", b"") for k in ("8.1.1-AUFN", "8.1.2-ENTL", "8.1.1-KOUB")]


_RELEASED = _PIECES[0].replace(b"Musterhausen", b"Muster?'UNT+1+00001?'hausen")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*_PIECES, _RELEASED, b"XYZ+1'", b"UNT+1+1'", b"UNH+9'",
                                 b"\r\n", b"UNZ+1+00001'", b"'", b"UNT'", b"UNTX+1'",
                                 b"NAD+?'", b"?"]), max_size=6))
def test_jump_agrees_with_walk(parts: list[bytes]) -> None:
    buf = b"UNB+UNOC:3+260510223+120591481+151127:1200+00001++TUVK0001'" + b"".join(parts)
    start = buf.index(b"'") + 1
    released = b"?" in buf
    fast = _jump(buf, start, DEFAULT, released)
    if fast is not None:
        assert fast == _walk(buf, start, DEFAULT, released, [])


_UNBS = [b"UNB+UNOC:3+260510223+120591481+151127:1200+00001++TUVK0001'",
         b"UNA:+,? 'UNB+UNOC:3+260510223+120591481+151127:1200+00001++TUVK0001'",
         b"UNB+UNOC:3+260510223+120591481+151131:1200+00001++TUVK0001'",  # 31 Nov
         b"UNB+UNOC:3+260510224+120591481+151127:1200+00001++TUVK0001'",  # check digit
         b"UNB+UNOC:3+260510223+120591481+151127:1200+00001++TUVK0001+++++1'"]


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(_UNBS),
       st.lists(st.sampled_from([*_PIECES, _RELEASED, b"XYZ+1'", b"UNT+1+1'", b"UNH+9'",
                                 b"\r\n", b"UNZ+1+00001'", b"UNZ+2+00001'", b"UNZ+1+00002'",
                                 b"'", b"UNT'", b"UNTX+1'", b"NAD+?'", b"?", b"\xfc",
                                 b"\xc3\xbc", b"\x01", b"UNZ+1+00001'\r\n"]),
                max_size=6))
def test_plain_scan_agrees_with_the_walk(unb: bytes, parts: list[bytes]) -> None:
    """The fast path answers only where it gives exactly the walk's result."""
    buf = unb + b"".join(parts)
    fast = _scan_plain(buf)
    if fast is not None:
        assert fast == _scan_walk(buf)
    assert scan(buf) == _scan_walk(buf)


def test_plain_scan_takes_the_usual_file() -> None:
    body = b"".join(p.replace(b"+00001", f"+{i:05d}".encode(), 1)
                    for i, p in enumerate(_PIECES, start=1))
    buf = wrap(body, sender="260510223", receiver="120591481").replace(b"\n", b"")
    assert _scan_plain(buf) is not None
    assert _scan_plain(buf) == _scan_walk(buf)
    assert len(scan(buf).messages) == 3


def test_released_message_keeps_the_fast_scan_for_the_others() -> None:
    two = _PIECES[0] + _RELEASED.replace(b"+00001", b"+00002")
    buf = wrap(two, sender="260510223", receiver="120591481")
    start = buf.index(b"'") + 1
    fast = _jump(buf, start, DEFAULT, True)
    assert fast is not None
    spans, _ = fast
    assert [s.released for s in spans] == [False, True]
    assert spans[1].segments == 10



def test_unb_date_pattern_is_prepared_time() -> None:
    """The plain scan's UNB pattern accepts exactly the dates and times
    ``prepared_time`` reads: every two-digit year, month and day (leap days
    included), every hour and minute."""
    pattern = re.compile(_PREPARED_REAL)
    values = [f"{y:02d}{m:02d}{d:02d}:1200" for y in range(100) for m in range(14)
              for d in range(33)]
    values += [f"160229:{h:02d}{mi:02d}" for h in range(25) for mi in range(61)]
    wrong = [v for v in values
             if (pattern.fullmatch(v.encode()) is not None) != (prepared_time(v) is not None)]
    assert wrong == []
