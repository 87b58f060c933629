"""Prüfstufe 1 (file, envelope, character set) and Prüfstufe 2 (structure, formats)."""

from __future__ import annotations

import datetime as dt

import pytest

from sgb301 import CATALOGUE, REJECTED, examples
from sgb301.tokenizer import _scan_plain, _scan_walk

UNB = b"UNB+UNOC:3+260510223+120591481+151127:1200+00001++TUVK0001'"


def _file(report):
    return [(e.code, e.segment) for e in report.file_errors]


def _rows(verdict):
    return [(e.code, e.stage, e.segment, e.segment_number, e.element, e.component)
            for e in verdict.errors]


def _all_rejected_by_file(report) -> None:
    assert report.messages, "expected messages"
    for verdict in report.messages:
        assert verdict.verdict == REJECTED
        assert verdict.errors[-1].code == "1SW00"


def _latin1(text: str) -> bytes:
    return text.encode("latin-1")


@pytest.fixture
def aufn(seed_examples) -> bytes:
    """8.1.1 AUFN interchange, one segment a line (as published)."""
    return seed_examples["8.1.1-AUFN"]


@pytest.fixture
def flat_aufn(aufn) -> bytes:
    """The same without line breaks."""
    return aufn.replace(b"\n", b"")


# ---- Prüfstufe 1: the file ------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b" ", b"\r\n", b"\n\n\t "], ids=repr)
def test_empty_input_is_1sw01(data, uv) -> None:
    report = uv.validate(data)
    assert [(e.code, e.stage, e.segment, e.segment_number, e.element, e.offset)
            for e in report.file_errors] == [("1SW01", 1, "", 0, 0, 0)]
    assert report.messages == ()
    assert not report.accepted


def test_bare_message_without_unb_is_10066(uv) -> None:
    report = uv.validate(examples.message("8.1.1-AUFN"))
    assert [(e.code, e.stage, e.segment, e.offset) for e in report.file_errors] == [
        ("10066", 1, "UNB", 0)
    ]
    assert report.messages == ()


def test_no_message_is_1sw13(uv) -> None:
    report = uv.validate(UNB + b"UNZ+0+00001'")
    assert _file(report) == [("1SW13", "UNH")]


def _cut(data: bytes, marker: bytes, extra: int = 0) -> bytes:
    return data[: data.index(marker) + extra]


TRUNCATIONS = {
    # id: (where to cut, file errors, errors of the message or None for no message).
    # A message cut before its UNT is a Stufe-1 error of the file (1SW14).
    "mid-UNB": (lambda d: d[:30], [("1SW16", "UNB"), ("1SW15", "UNZ")], None),
    "after-UNB": (lambda d: _cut(d, b"UNH"), [("1SW15", "UNZ")], None),
    "mid-NAD": (lambda d: _cut(d, b"NAD", 20),
                [("1SW16", ""), ("1SW15", "UNZ"), ("1SW14", "UNT")], ["...", "1SW00"]),
    "after-AUF": (lambda d: _cut(d, b"EAD"), [("1SW15", "UNZ"), ("1SW14", "UNT")],
                  ["2SW02", "1SW00"]),
    "mid-UNT": (lambda d: _cut(d, b"UNT", 5),
                [("1SW16", ""), ("1SW15", "UNZ"), ("1SW14", "UNT")], ["...", "1SW00"]),
    "after-UNT": (lambda d: _cut(d, b"UNZ"), [("1SW15", "UNZ")], ["1SW00"]),
    "mid-UNZ": (lambda d: _cut(d, b"UNZ", 5), [("1SW16", ""), ("1SW15", "UNZ")], ["1SW00"]),
    "no-final-terminator": (lambda d: d[:-1], [("1SW16", ""), ("1SW15", "UNZ")], ["1SW00"]),
}


@pytest.mark.parametrize("cut", sorted(TRUNCATIONS))
def test_truncated_file(cut, aufn, uv) -> None:
    make, file_errors, message_errors = TRUNCATIONS[cut]
    report = uv.validate(make(aufn))
    assert _file(report) == file_errors
    if message_errors is None:
        assert report.messages == ()
        return
    (verdict,) = report.messages
    got = [e.code for e in verdict.errors]
    if "..." in message_errors:  # the cut segment itself is also checked (stage 2/3)
        assert got[-1] == message_errors[-1]
    else:
        assert got == message_errors
    assert verdict.verdict == REJECTED


def test_truncated_message_reports_missing_unt_and_missing_segments(aufn, uv) -> None:
    data = _cut(aufn, b"EAD")
    report = uv.validate(data)
    assert [(e.code, e.stage, e.segment, e.segment_number, e.offset)
            for e in report.file_errors][1:] == [("1SW14", 1, "UNT", 7, len(data))]
    (verdict,) = report.messages
    assert _rows(verdict)[:1] == [("2SW02", 2, "EAD", 6, 0, 0)]


def test_1sw16_offset_is_the_unterminated_segment(aufn, uv) -> None:
    data = _cut(aufn, b"NAD", 20)
    report = uv.validate(data)
    assert report.file_errors[0].code == "1SW16"
    assert report.file_errors[0].offset == data.index(b"NAD")
    assert report.file_errors[1].offset == len(data)


def _two_messages(edi, second_reference: str = "00002") -> bytes:
    return edi.interchange(
        edi.fixed("8.1.1-AUFN") + edi.message(edi.segments("8.1.2-AUFN"), second_reference)
    )


def test_two_messages_are_accepted(edi, uv) -> None:
    report = uv.validate(_two_messages(edi))
    assert report.accepted
    assert [(m.message, m.reference, m.case) for m in report.messages] == [
        (1, "00001", "1234567"), (2, "00002", "7654321")
    ]


@pytest.mark.parametrize("count", [b"0", b"3", b"2x", b"", b"\xb2", b"-2", b" 2"], ids=repr)
def test_unz_count_wrong_rejects_every_message(count, edi, uv) -> None:
    data = _two_messages(edi).replace(b"UNZ+2+", b"UNZ+" + count + b"+")
    report = uv.validate(data)
    assert [(e.code, e.segment, e.element) for e in report.file_errors] == [("1SW21", "UNZ", 1)]
    assert report.file_errors[0].offset == data.index(b"UNZ+")
    assert [[e.code for e in m.errors] for m in report.messages] == [["1SW00"], ["1SW00"]]
    _all_rejected_by_file(report)


@pytest.mark.parametrize("count", [b"02", b"002", b"000002"])
def test_unz_count_is_compared_as_a_number(count, edi, uv) -> None:
    data = _two_messages(edi).replace(b"UNZ+2+", b"UNZ+" + count + b"+")
    assert uv.validate(data).accepted


def test_unz_reference_wrong_is_1sw22(aufn, uv) -> None:
    report = uv.validate(aufn.replace(b"UNZ+1+00001", b"UNZ+1+00002"))
    assert _file(report) == [("1SW22", "UNZ")]
    _all_rejected_by_file(report)


def test_data_after_unz_is_1sw24(aufn, uv) -> None:
    report = uv.validate(aufn + b"\nXYZ'")
    assert _file(report) == [("1SW24", "")]
    assert report.file_errors[0].offset == len(aufn) + 1


def test_segment_between_messages_is_1sw23(aufn, uv) -> None:
    report = uv.validate(aufn.replace(b"UNT+10+00001'", b"UNT+10+00001'\nFKT+10'"))
    assert _file(report) == [("1SW23", "")]


@pytest.mark.parametrize("references", [("00001", "00003"), ("00002", "00003")])
def test_unh_reference_gap_is_1sw20(references, edi, uv) -> None:
    first, second = references
    data = edi.interchange(edi.message(edi.segments("8.1.1-AUFN"), first)
                           + edi.message(edi.segments("8.1.2-AUFN"), second))
    report = uv.validate(data)
    expected = ([] if first == "00001" else ["1SW20"]) + ["1SW20"]
    assert [e.code for e in report.file_errors] == expected
    error = report.file_errors[-1]
    assert (error.stage, error.segment, error.segment_number, error.element) == (1, "UNH", 1, 1)
    assert error.offset == report.messages[1].start
    # a Stufe-1 error rejects the file: the clean first message too
    assert [[e.code for e in m.errors] for m in report.messages] == [["1SW00"], ["1SW00"]]


def test_unt_reference_mismatch_is_1sw19(edi, uv) -> None:
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"UNT+10+00001", b"UNT+10+00002",
                                      fix_count=False))
    report = uv.validate(data)
    assert [(e.code, e.stage, e.segment, e.segment_number, e.element, e.offset)
            for e in report.file_errors] == [("1SW19", 1, "UNT", 10, 2, data.index(b"UNT+"))]
    _all_rejected_by_file(report)


@pytest.mark.parametrize("count", [b"9", b"11", b"0"])
def test_unt_count_wrong_is_1sw18(count, edi, uv) -> None:
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"UNT+10+", b"UNT+" + count + b"+",
                                      fix_count=False))
    report = uv.validate(data)
    assert [(e.code, e.stage, e.segment, e.segment_number, e.element, e.offset)
            for e in report.file_errors] == [("1SW18", 1, "UNT", 10, 1, data.index(b"UNT+"))]
    assert [[e.code for e in m.errors] for m in report.messages] == [["1SW00"]]


def test_framing_error_in_one_message_rejects_every_message(edi, uv) -> None:
    # Stufe 1 is the file: one broken UNT rejects the clean message beside it as well.
    second = edi.message(edi.segments("8.1.2-AUFN"), "00002").replace(b"UNT+8+", b"UNT+7+")
    data = edi.interchange(edi.fixed("8.1.1-AUFN") + second)
    report = uv.validate(data)
    assert [e.code for e in report.file_errors] == ["1SW18"]
    assert [[e.code for e in m.errors] for m in report.messages] == [["1SW00"], ["1SW00"]]


# ---- character set -----------------------------------------------------------------------


@pytest.mark.parametrize("byte", [b"\x01", b"\x00", b"\x1b", b"\x7f", b"\x85", b"\x9f", b"\t"])
def test_control_byte_is_1sw17_at_its_offset(byte, flat_aufn, uv) -> None:
    at = flat_aufn.index(b"Mustermann") + 3
    data = flat_aufn[:at] + byte + flat_aufn[at:]
    report = uv.validate(data)
    assert [(e.code, e.stage, e.offset) for e in report.file_errors] == [("1SW17", 1, at)]
    _all_rejected_by_file(report)


@pytest.mark.parametrize("where", [b"Mustermann", b"FKT+10", b"UNZ+"])
def test_control_byte_offset_with_line_breaks(where, aufn, uv) -> None:
    at = aufn.index(where) + 3
    data = aufn[:at] + b"\x01" + aufn[at:]
    report = uv.validate(data)
    assert [(e.code, e.offset) for e in report.file_errors if e.code == "1SW17"] == [
        ("1SW17", at)
    ]


def _utf8(data: bytes) -> bytes:
    """The interchange re-encoded from ISO 8859-1 to UTF-8."""
    return data.decode("latin-1").encode("utf-8")


@pytest.mark.parametrize("breaks", [True, False], ids=["line-breaks", "one-line"])
@pytest.mark.parametrize("street", ["Müllerweg 4", "Mäanderweg 4", "Göbelhof 4"])
def test_utf8_umlaut_is_1sw25(street, breaks, aufn, uv) -> None:
    # one-line: the form the quick scan reads (it must still see the UTF-8)
    latin1 = aufn.replace(_latin1("Musterstraße 4"), _latin1(street))
    latin1 = latin1 if breaks else latin1.replace(b"\n", b"")
    assert uv.validate(latin1).accepted  # the same text in ISO 8859-1 is fine
    report = uv.validate(_utf8(latin1))
    assert [(e.code, e.stage) for e in report.file_errors] == [("1SW25", 1)]
    _all_rejected_by_file(report)


@pytest.mark.parametrize("street", ["Musterstraße 4", "Ährenweg 4", "Ölmühle 4", "Überweg 4"])
def test_utf8_umlaut_with_c1_continuation_is_1sw25(street, aufn, uv) -> None:
    # UTF-8 continuation bytes 0x80-0x9F (ß, Ä, Ö, Ü) are not control characters here.
    # "Musterstraße 4" is the seed itself re-encoded as UTF-8.
    data = _utf8(aufn.replace(_latin1("Musterstraße 4"), _latin1(street)))
    assert [e.code for e in uv.validate(data).file_errors] == ["1SW25"]


@pytest.mark.parametrize("street", ["Weg 4½", "Hof 4 · Haus B", "Ring 4 §3", "Alte Weide 4°"])
def test_latin1_with_utf8_continuation_bytes_is_accepted(street, aufn, uv) -> None:
    # ½ · § ° are 0xA0-0xBF in ISO 8859-1, the range of UTF-8 continuation bytes: the
    # tokenizer must still read the file as ISO 8859-1 (and the walk agrees).
    data = aufn.replace(_latin1("Musterstraße 4"), _latin1(street)).replace(b"\n", b"")
    assert uv.validate(data).accepted
    plain = _scan_plain(data)  # the file without line breaks: the quick scan answers
    assert plain is not None and plain == _scan_walk(data)


# ---- UNA -----------------------------------------------------------------------------------


def _convert(data: bytes) -> bytes:
    """Restate an interchange with ``UNA|*.# ~``: component ``|``, element ``*``, decimal
    ``.``, release ``#``, terminator ``~``."""
    assert not any(c in data for c in (b"|", b"*", b"#", b"~"))
    return b"UNA|*.# ~" + data.translate(bytes.maketrans(b":+?',", b"|*#~."))


@pytest.mark.parametrize("name", sorted(examples.MESSAGES))
def test_una_custom_separators_reject_the_file(name, edi, uv) -> None:
    # §301 knows only UNA:+,? ' — other separators are a file error, even when the
    # file is consistent with them (it is still read with them, so nothing else is found).
    data = _convert(edi.interchange(edi.fixed(name)))
    assert data.startswith(b"UNA|*.# ~UNB*UNOC|3*")
    report = uv.validate(data)
    assert report.interchange.delimiters.component == b"|"
    assert report.interchange.delimiters.terminator == b"~"
    assert [(e.code, e.stage, e.segment, e.offset) for e in report.file_errors] == [
        ("1SW28", 1, "UNA", 3)
    ]
    assert report.file_errors[0].text == "Verwendetes Trennkennzeichen nicht bekannt"
    assert [[e.code for e in m.errors] for m in report.messages] == [["1SW00"]]
    assert report.messages[0].version == "13"


@pytest.mark.parametrize(("una", "offset"), [
    (b"UNA:+.? '", 5), (b"UNA:+,! '", 6), (b"UNA:+,? ~", 8), (b"UNA|+,? '", 3),
    (b"UNA:*,? '", 4),
], ids=["decimal", "release", "terminator", "component", "element"])
def test_una_with_one_foreign_separator_is_1sw28(una, offset, aufn, uv) -> None:
    report = uv.validate(una + aufn)
    # the file is read with what the UNA says, so other findings may follow
    assert [(e.code, e.offset) for e in report.file_errors][:1] == [("1SW28", offset)]
    assert not report.accepted


def test_una_custom_release_character_is_read_but_rejected(edi, uv) -> None:
    data = _convert(edi.interchange(edi.fixed("8.1.1-AUFN")))
    data = data.replace(b"NAD*Mustermann", b"NAD*D#~Angelo#*#|##")
    report = uv.validate(data)
    assert [e.code for e in report.file_errors] == ["1SW28"]
    assert [[e.code for e in m.errors] for m in report.messages] == [["1SW00"]]


def test_una_default_restated_is_accepted(aufn, uv) -> None:
    assert uv.validate(b"UNA:+,? '" + aufn).accepted
    assert uv.validate(b"UNA:+,? '\r\n" + aufn).accepted


BAD_UNA = {
    "reserved-not-blank": (b"UNA:+,?x'", ["1SW03", "1SW04"]),
    "reserved-umlaut": (b"UNA:+,?\xe4'", ["1SW03", "1SW04"]),
    "letter": (b"UNAa+,? '", ["1SW04"]),
    "digit": (b"UNA:+,1 '", ["1SW04"]),
    "not-distinct": (b"UNA::,? '", ["1SW05"]),
    "release-is-terminator": (b"UNA:+,' '", ["1SW05"]),
}


@pytest.mark.parametrize("una", sorted(BAD_UNA))
def test_bad_una(una, aufn, uv) -> None:
    head, expected = BAD_UNA[una]
    report = uv.validate(head + aufn)
    assert [e.code for e in report.file_errors] == expected
    assert all(e.segment == "UNA" for e in report.file_errors)
    _all_rejected_by_file(report)


UNA_OR_UNB = {"1SW02", "1SW03", "1SW04", "1SW05", "10066"}


@pytest.mark.parametrize("head", [b"UNA:+,?  '", b"UNA:+,? ", b"UNA:+,?"],
                         ids=["too-long", "no-terminator", "too-short"])
def test_una_of_wrong_length_rejects_the_file(head, aufn, uv) -> None:
    report = uv.validate(head + aufn)
    codes = [e.code for e in report.file_errors]
    assert codes
    assert set(codes) <= UNA_OR_UNB
    assert not report.accepted


def test_truncated_una_is_1sw02(uv) -> None:
    report = uv.validate(b"UNA:+,")
    assert report.file_errors[0].code == "1SW02"
    assert report.file_errors[0].segment == "UNA"
    assert report.messages == ()


def test_una_not_at_start_is_1sw06(aufn, uv) -> None:
    report = uv.validate(aufn.replace(b"UNH+", b"UNA:+,? 'UNH+", 1))
    assert [(e.code, e.segment) for e in report.file_errors] == [("1SW06", "UNA")]
    assert report.file_errors[0].offset == aufn.index(b"UNH+")
    _all_rejected_by_file(report)


@pytest.mark.parametrize("sep", [b"", b"\n"], ids=["adjacent", "line-break"])
def test_duplicate_una_is_1sw06(sep, aufn, uv) -> None:
    report = uv.validate(b"UNA:+,? '" + sep + b"UNA:+,? '" + sep + aufn)
    assert [(e.code, e.segment, e.offset) for e in report.file_errors] == [
        ("1SW06", "UNA", 9 + len(sep))
    ]
    _all_rejected_by_file(report)


def test_una_then_no_unb_is_only_10066(uv) -> None:
    # a correct nine-character UNA is not blamed for the missing UNB
    report = uv.validate(b"UNA:+,? '" + examples.message("8.1.1-AUFN"))
    assert [(e.code, e.offset) for e in report.file_errors] == [("10066", 9)]


# ---- line breaks and release characters -------------------------------------------------


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r", b"\r\n\r\n"], ids=repr)
def test_line_breaks_between_segments_are_accepted(newline, aufn, uv) -> None:
    data = aufn.replace(b"\n", b"").replace(b"'", b"'" + newline)
    assert data.count(newline) == 12
    assert uv.validate(data).accepted


@pytest.mark.parametrize("name", [b"D?'Angelo", b"O?'Neill?+Partner", b"A?:B", b"Fragezeichen??"])
def test_released_characters_in_a_name_are_accepted(name, edi, uv, single) -> None:
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"NAD+Mustermann", b"NAD+" + name))
    verdict = single(uv.validate(data))
    assert verdict.accepted, verdict.errors
    assert verdict.case == "1234567"


@pytest.mark.parametrize(("old", "new", "element", "component"), [
    (b"NAD+Mustermann", b"NAD+Muster?mann", 1, 0),
    (b"NAD+Mustermann+Max", b"NAD+Mustermann+Max???x", 2, 0),
    (b"NAD+Mustermann", b"NAD+?,Mustermann", 1, 0),  # the decimal mark is not released
    (b"EAD+S22.05+S21.84!", b"EAD+S22.05+S21.84:?!", 2, 2),
], ids=["letter", "after-released-release", "decimal-mark", "second-component"])
def test_release_before_an_ordinary_character_is_2sw18(old, new, element, component, edi, uv,
                                                      single) -> None:
    # ISO 9735: the release character only releases the separators, the terminator and
    # itself; before anything else it is a syntax error of the segment (Prüfstufe 2).
    data = edi.interchange(edi.derive("8.1.1-AUFN", old, new))
    verdict = single(uv.validate(data))
    tag = new[:3].decode()
    number = 4 if tag == "NAD" else 7
    assert ("2SW18", 2, tag, number, element, component) in _rows(verdict)
    assert verdict.errors[0].offset == data.index(new)


def test_release_in_a_message_the_fast_path_would_take_is_2sw18(edi, uv, gkv, single) -> None:
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"+1234567+", b"+12?34567+"))
    for v in (uv, gkv):
        assert [e.code for e in single(v.validate(data)).errors] == ["2SW18"]


def test_unreleased_apostrophe_splits_the_segment(edi, uv) -> None:
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"NAD+Mustermann", b"NAD+D'Angelo",
                                      fix_count=False))
    report = uv.validate(data)
    assert [e.code for e in report.file_errors] == ["1SW18"]  # one segment more
    (verdict,) = report.messages
    assert verdict.verdict == REJECTED
    assert "2SW01" in [e.code for e in verdict.errors]  # "Angelo+Max+…" is no segment


# ---- Prüfstufe 2: structure -------------------------------------------------------------


@pytest.mark.parametrize(("example", "tag", "number"), [
    ("8.1.1-AUFN", "AUF", 6),
    ("8.1.1-AUFN", "EAD", 7),
    ("8.1.2-AUFN", "NAD", 4),
    ("8.1.1-AUFN", "FKT", 2),
    ("8.1.1-ENTL", "ETL", 7),
    ("8.1.1-KOUB", "KOS", 5),
    ("8.1.1-RECH", "REC", 6),
    ("8.1.2-RECH", "ENT", 9),
])
def test_missing_mandatory_segment_is_2sw02(example, tag, number, edi, uv, single) -> None:
    data = edi.interchange(edi.drop(example, tag))
    assert _rows(single(uv.validate(data))) == [("2SW02", 2, tag, number, 0, 0)]


def test_unknown_segment_is_2sw01(edi, uv, single) -> None:
    data = edi.interchange(edi.insert("8.1.1-AUFN", 6, b"XYZ+1'"))
    verdict = single(uv.validate(data))
    assert _rows(verdict) == [("2SW01", 2, "XYZ", 7, 0, 0)]
    assert data[verdict.errors[0].offset :].startswith(b"XYZ+1'")


def test_misplaced_segment_is_2sw03(edi, uv, single) -> None:
    data = edi.interchange(edi.insert("8.1.1-AUFN", 6, b"CUX+EUR'"))
    assert _rows(single(uv.validate(data))) == [("2SW03", 2, "CUX", 7, 0, 0)]


def test_repeated_segment_is_2sw04(edi, uv, single) -> None:
    segs = edi.segments("8.1.1-AUFN")
    data = edi.interchange(edi.insert("8.1.1-AUFN", 6, segs[5]))
    assert _rows(single(uv.validate(data))) == [("2SW04", 2, "AUF", 7, 0, 0)]


@pytest.mark.parametrize("day", [b"20150230", b"20150229", b"19000229", b"20151301", b"20150100",
                                 b"2015082", b"2015-08-"])
def test_bad_date_in_auf_is_3sw22(day, edi, uv, single) -> None:
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"AUF+20150821", b"AUF+" + day))
    assert _rows(single(uv.validate(data))) == [("3SW22", 3, "AUF", 6, 1, 0)]


@pytest.mark.parametrize("day", [b"20160229", b"20000229", b"20151231", b"20150131"])
def test_valid_dates_in_auf(day, edi, uv) -> None:
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"AUF+20150821", b"AUF+" + day))
    assert uv.validate(data).accepted


@pytest.mark.parametrize(("old", "new", "element"), [
    (b"FKT+10+01+260510223", b"FKT+10+01+260510224", 3),
    (b"FKT+10+01+260510223", b"FKT+10+01+26051022X", 3),
    (b"FKT+10+01+260510223", b"FKT+10+01+26051022", 3),
])
def test_bad_ik_in_fkt_is_3sw24(old, new, element, edi, uv, single) -> None:
    data = edi.interchange(edi.derive("8.1.1-AUFN", old, new))
    assert _rows(single(uv.validate(data))) == [("3SW24", 3, "FKT", 2, element, 0)]


def test_bad_referrer_ik_in_auf_is_3sw24(edi, uv, single) -> None:
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"+260510984'", b"+260510985'"))
    assert _rows(single(uv.validate(data))) == [("3SW24", 3, "AUF", 6, 8, 0)]


FIELD_CONTENT = [
    # (example, old, new, code, tag, segment number, element): one of each format check
    ("8.1.1-AUFN", b"FKT+10+01+", b"FKT+10+0X+", "3SW20", "FKT", 2, 2),  # n2 not numeric
    ("8.1.1-AUFN", b"FKT+10+01+", b"FKT+10+001+", "3SW21", "FKT", 2, 2),  # n2 too long
    ("8.1.1-AUFN", b"AUF+20150821", b"AUF+20150230", "3SW22", "AUF", 6, 1),  # date
    ("8.1.1-AUFN", b"+1557+", b"+1560+", "3SW23", "AUF", 6, 2),  # time
    ("8.1.1-AUFN", b"+260510984'", b"+260510985'", "3SW24", "AUF", 6, 8),  # IK check digit
    ("8.1.1-RECH", b"ZLG+0,00", b"ZLG+0,001", "3SW25", "ZLG", 7, 1),  # amount
    ("8.1.1-AUFN", b"EAD+S22.05+", b"EAD+S2+", "3SW26", "EAD", 7, 1),  # ICD code
]


@pytest.mark.parametrize(("example", "old", "new", "code", "tag", "number", "element"),
                         FIELD_CONTENT, ids=[c[3] for c in FIELD_CONTENT])
def test_field_formats_lengths_dates_and_check_digits_are_prufstufe_3(
        example, old, new, code, tag, number, element, edi, uv, single) -> None:
    # Anlage 4 §6: Stufe 3 is "formale Prüfung auf Feldinhalte"; Stufe 2 is the syntax.
    data = edi.interchange(edi.derive(example, old, new))
    rows = [(e.code, e.stage, e.segment, e.segment_number, e.element)
            for e in single(uv.validate(data)).errors]
    assert rows == [(code, 3, tag, number, element)]


def test_every_code_names_its_prufstufe() -> None:
    assert all(info.code[0] == str(info.stage) for info in CATALOGUE.values())
    structure = {c for c, info in CATALOGUE.items() if info.stage == 2}
    assert structure == {"24U01", "2SW01", "2SW02", "2SW03", "2SW04", "2SW05", "2SW06",
                         "2SW07", "2SW14", "2SW16", "2SW18"}


def test_too_many_elements_is_2sw05(edi, uv, single) -> None:
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"DPV+2015'", b"DPV+2015+2015+1'"))
    assert _rows(single(uv.validate(data))) == [("2SW05", 2, "DPV", 5, 3, 0)]


def test_too_many_components_is_2sw06(edi, uv, single) -> None:
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"EAD+S22.06'", b"EAD+S22.06:L:X'"))
    assert _rows(single(uv.validate(data))) == [("2SW06", 2, "EAD", 8, 1, 3)]


def test_empty_mandatory_field_is_2sw07(edi, uv, single) -> None:
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"+m+20000101+", b"++20000101+"))
    assert _rows(single(uv.validate(data))) == [("2SW07", 2, "NAD", 4, 3, 0)]


def test_unknown_message_type_is_2sw14(edi, uv, single) -> None:
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"AUFN:13", b"XXXX:13"))
    assert ("2SW14", 2, "UNH", 1, 2, 1) in _rows(single(uv.validate(data)))


# ---- UNB ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "code", "element"), [
    (b"UNOC:3", b"UNOB:3", "1SW07", 1),
    (b"+260510223+", b"+260510224+", "1SW08", 2),
    (b"+120591481+", b"+120591482+", "1SW08", 3),
    (b"+151127:1200+", b"+151127:2460+", "1SW09", 4),
    (b"+151127:1200+", b"+1511271200+", "1SW09", 4),
    (b"+00001++", b"+0001++", "1SW10", 5),
    (b"+00001++", b"+00001+geheim+", "1SW11", 6),
    (b"+TUVK0001'", b"+TUVK001'", "1SW12", 7),
    (b"+TUVK0001'", b"+TUVK0001+++++1+X'", "1SW27", 12),
])
def test_bad_unb(old, new, code, element, aufn, uv) -> None:
    head, rest = aufn.split(b"'", 1)
    data = (head + b"'").replace(old, new) + rest
    if code == "1SW10":  # keep UNZ consistent with the changed reference
        data = data.replace(b"UNZ+1+00001", b"UNZ+1+0001")
    report = uv.validate(data)
    assert [(e.code, e.segment, e.element) for e in report.file_errors] == [
        (code, "UNB", element)
    ]
    _all_rejected_by_file(report)


def test_creation_after_processing_is_1sw26(aufn, validator) -> None:
    # prepared 151127:1200
    early = validator(now=dt.datetime(2015, 11, 27, 11, 59)).validate(aufn)
    assert [e.code for e in early.file_errors] == ["1SW26"]
    _all_rejected_by_file(early)
    assert validator(now=dt.datetime(2015, 11, 27, 12, 0)).validate(aufn).accepted


def test_impossible_unb_date_with_now_does_not_raise(aufn, validator) -> None:
    data = aufn.replace(b"+151127:1200+", b"+151340:1200+")
    report = validator(now=dt.datetime(2020, 1, 1)).validate(data)
    assert [e.code for e in report.file_errors] == ["1SW09"]


@pytest.mark.parametrize("prepared", [b"151340:1200", b"151100:1200", b"150230:1200",
                                      b"151127:2400"])
def test_impossible_unb_date_is_1sw09(prepared, aufn, uv) -> None:
    data = aufn.replace(b"+151127:1200+", b"+" + prepared + b"+")
    assert [e.code for e in uv.validate(data).file_errors] == ["1SW09"]


# ---- validate never raises -------------------------------------------------------------------

# ISO 8859-1 superscripts ¹ ² ³ (0xB9, 0xB2, 0xB3) are str.isdigit() but not int()-able.
SUPERSCRIPT_DIGITS = [
    ("unh-version", "uv", b"AUFN:13", b"AUFN:1\xb3", "UNH", 2),
    ("unt-count", "uv", b"UNT+10+", b"UNT+1\xb9+", "UNT", 1),
    ("unt-count", "gkv", b"UNT+10+", b"UNT+1\xb9+", "UNT", 1),
    ("unh-reference", "uv", b"UNH+00001", b"UNH+0000\xb9", "UNH", 1),
    ("unh-reference", "gkv", b"UNH+00001", b"UNH+0000\xb9", "UNH", 1),
]


@pytest.mark.parametrize(("field", "mode", "old", "new", "tag", "element"), SUPERSCRIPT_DIGITS,
                         ids=[f"{c[0]}-{c[1]}" for c in SUPERSCRIPT_DIGITS])
def test_superscript_digit_does_not_crash(field, mode, old, new, tag, element, aufn,
                                          validator) -> None:
    report = validator(mode=mode).validate(aufn.replace(old, new, 1))
    (verdict,) = report.messages
    assert verdict.verdict == REJECTED
    assert ("3SW20", tag, element) in [(e.code, e.segment, e.element) for e in verdict.errors]


HUGE = b"1" * 5000  # int() refuses more than 4300 digits
HUGE_NUMBERS = [
    ("unt-count", b"UNT+10+", b"UNT+" + HUGE + b"+", "1SW18"),
    ("unh-reference", b"UNH+00001", b"UNH+" + HUGE, "1SW20"),
    ("unz-count", b"UNZ+1+", b"UNZ+" + HUGE + b"+", "1SW21"),
]


@pytest.mark.parametrize(("old", "new", "code"), [c[1:] for c in HUGE_NUMBERS],
                         ids=[c[0] for c in HUGE_NUMBERS])
@pytest.mark.parametrize("mode", ["uv", "gkv"])
def test_huge_numbers_are_findings_not_crashes(old, new, code, mode, aufn, validator) -> None:
    report = validator(mode=mode).validate(aufn.replace(old, new, 1))
    assert code in [e.code for e in report.file_errors]
    _all_rejected_by_file(report)


def test_huge_version_is_a_finding(aufn, uv) -> None:
    (verdict,) = uv.validate(aufn.replace(b"AUFN:13", b"AUFN:" + HUGE)).messages
    assert "3SW21" in [e.code for e in verdict.errors]
