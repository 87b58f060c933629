"""Property tests: robustness on arbitrary input, clean random messages, and agreement
of the fast path with the exact checker.

Runs are derandomized (the same examples every run, so CI is reproducible); on a failure
Hypothesis prints the falsifying example and a reproduction blob.
"""

from __future__ import annotations

import datetime as dt
import operator
import string

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import sgb301
from sgb301 import DEFAULT, Delimiters, ValidationOptions, Validator, examples, ik_check_digit
from sgb301.checker import check_message

MODEST = settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)

TEST_IK = examples.TEST_IK


# ---- (a) arbitrary bytes ------------------------------------------------------------------

_PIECES = [
    b"UNA:+,? '", b"UNA|*.# ~", b"UNA", b"UNB+UNOC:3+260510223+120591481+151127:1200+00001++",
    b"TUVK0001'", b"UNH+00001+AUFN:13:000:00'", b"UNH+", b"UNT+2+00001'", b"UNT+", b"UNZ+1+00001'",
    b"UNZ+", b"FKT+10+01+260510223+120591481'", b"INV++++++1234567++++BK'", b"+", b":", b"'",
    b"?", b"??", b"?'", b"\n", b"\r\n", b"\x00", b"\x01", b"\xe4", b"\xc3\xa4", b"\xc3\x9f",
    b"00001", b"AUFN", b"KOUB", b"RECH", b"ZLG+0,00+1'", b"ENT+01100+1,00+20150101+20150101+1'",
]

_SEEDS = list(examples.load().values())


@st.composite
def _spliced_seed(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "cut"]))
        if kind == "insert":
            data[at:at] = draw(st.sampled_from(_PIECES) | st.binary(max_size=4))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 20))]
        else:
            del data[at:]
    return bytes(data)


ANY_INPUT = st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from(_PIECES), max_size=25).map(b"".join),
    _spliced_seed(),
)

_UV, _GKV = Validator(), Validator(ValidationOptions(mode="gkv"))
_UV_TEST = Validator(ValidationOptions(test=True, responsibility={TEST_IK: "123456780"}))
_UV_DECLARED = Validator(ValidationOptions(test=True))


@MODEST
@given(data=ANY_INPUT)
@example(data=b"")
@example(data=b"UNA")
@example(data=b"UNA:+,? ")
@example(data=b"UNB")
@example(data=b"UNB+UNOC:3'UNH+00001+AUFN'UNZ+1+00001'")
@example(data=b"UNB+'UNH+1'")
@example(data=b"?")
@example(data=b"UNB+UNOC:3+260510223+120591481+151127:1200+00001++TUVK0001'UNH+0000")
def test_validate_and_scan_never_raise(data: bytes) -> None:
    for v in (_UV, _GKV, _UV_TEST):
        report = v.validate(data)
        assert isinstance(report, sgb301.InterchangeReport)
        if report.file_errors:
            assert all(not m.accepted for m in report.messages)
        for m in report.messages:
            assert m.accepted == (m.errors == ())
            assert 0 <= m.start <= m.end <= len(data)
    ic = sgb301.scan(data)
    assert isinstance(ic, sgb301.Interchange)
    # views other than bytes are accepted as well
    assert _UV.validate(memoryview(data)) == _UV.validate(data)


@MODEST
@given(data=ANY_INPUT)
@example(data=b"UNA")
@example(data=b"UNB+UNOC:3")
@example(data=b"UNA:+,?x'UNB'")
def test_tokenize_raises_only_codec_errors(data: bytes) -> None:
    try:
        tokens = list(sgb301.tokenize(data))
    except sgb301.Sgb301Error as e:
        assert isinstance(e, sgb301.EdifactSyntaxError)
        assert 0 <= e.offset <= len(data)
        return
    for t in tokens:
        assert 0 <= t.start <= t.end <= len(data)
    assert [t.number for t in tokens] == list(range(1, len(tokens) + 1))


# ---- (b) random valid messages ------------------------------------------------------------

# §301 allows only the standard service characters; a UNA that declares others is read
# with them (the tokenizer supports any) but rejects the file (1SW28).
_FOREIGN = [
    Delimiters(b"|", b"*", b".", b"#", b" ", b"~"),
    Delimiters(b":", b"+", b",", b"!", b" ", b"'"),  # ! is also an ICD marker
    Delimiters(b"-", b".", b",", b"/", b" ", b";"),  # . and - occur in ICD codes
]
_UNA_SPECIAL = [bytes([c]) for c in b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"]
foreign_delimiters = st.sampled_from(_FOREIGN) | st.lists(
    st.sampled_from(_UNA_SPECIAL), min_size=5, max_size=5, unique=True,
).map(lambda c: Delimiters(c[0], c[1], c[2], c[3], b" ", c[4])).filter(
    lambda d: d != DEFAULT)
standard_delimiters = st.just(DEFAULT)


def _ik(first8: str) -> str:
    return first8 + str(ik_check_digit(first8))


iks = st.integers(0, 99_999_999).map(lambda n: _ik(f"{n:08d}"))
carrier_iks = iks.filter(lambda ik: ik != TEST_IK)
days = st.dates(dt.date(1900, 1, 1), dt.date(2099, 12, 31)).map(lambda d: d.strftime("%Y%m%d"))
days_or_empty = days | st.just("")
times = st.times().map(lambda t: t.strftime("%H%M"))
_icd_letters = st.sampled_from(string.ascii_uppercase)
_icd_alnum = st.sampled_from(string.digits + string.ascii_uppercase)
icd = st.builds(
    lambda a, b, c, tail, mark: f"{a}{b}{c}{'.' + tail if tail else ''}{mark}",
    _icd_letters, st.sampled_from(string.digits), _icd_alnum,
    st.text(st.sampled_from(string.digits + string.ascii_uppercase + "-"), max_size=4),
    st.sampled_from(["", "!", "*", "#"]),
)
diagnoses = icd.map(lambda c: (c,)) | st.tuples(icd, st.sampled_from("LRB"))
ops = st.builds(lambda a, rest: f"{a}{rest}", st.sampled_from(string.digits),
                st.text(st.sampled_from(string.digits + "abcdefghijkz"), min_size=2, max_size=7))


def digits(n: int) -> st.SearchStrategy[str]:
    return st.integers(0, 10**n - 1).map(lambda i: f"{i:0{n}d}")


_RELEASE_WORTHY = "'+:?!|*#~-./;"
_TEXT_ALPHABET = st.sampled_from(string.ascii_letters + "äöüÄÖÜß éèçñ" + _RELEASE_WORTHY
                                 + string.digits)


def texts(max_size: int, min_size: int = 1) -> st.SearchStrategy[str]:
    """Free text with characters that need the release character in some delimiters."""
    return st.text(_TEXT_ALPHABET, min_size=min_size, max_size=max_size)


class _Writer:
    """Writes segments with one set of delimiters, escaping every value."""

    def __init__(self, d: Delimiters, newline: bytes) -> None:
        self.d, self.newline = d, newline
        self.special = {d.component, d.element, d.release, d.terminator}

    def value(self, v: str) -> bytes:
        raw = v.encode("latin-1")
        return b"".join(
            (self.d.release + raw[i : i + 1]) if raw[i : i + 1] in self.special
            else raw[i : i + 1]
            for i in range(len(raw))
        )

    def segment(self, tag: str, *elements: str | tuple[str, ...]) -> bytes:
        els = list(elements)
        while els and els[-1] in ("", ()):
            els.pop()  # trailing empty elements left out
        parts = [tag.encode()]
        for e in els:
            comps = e if isinstance(e, tuple) else (e,)
            parts.append(self.d.component.join(self.value(c) for c in comps))
        return self.d.element.join(parts) + self.d.terminator + self.newline


patients = st.fixed_dictionaries({
    "case": texts(15),
    "unfalltag": days | st.just("BK"),
    "name": texts(47),
    "first": texts(30),
    "sex": st.sampled_from("mwdx"),
    "birth": days,
    "street": texts(46, 0),
    "plz": digits(5),
    "city": texts(40, 0),
})
_AUFN_REASON = st.sampled_from(["0102", "0202", "0302", "0402", "0502"])
_ETL_REASON = st.builds(operator.add, st.sampled_from(
    ["01", "02", "04", "06", "07", "09", "10", "15", "17", "21", "25"]),
    st.sampled_from("1234569"))
_KOS_MARK = st.sampled_from(["01", "02", "03", "04", "05", "07"])
_PROCESSING = st.sampled_from(["10", "20", "30", "31", "32", "33", "34", "40", "41"])


def _body(draw: st.DrawFn, kind: str, w: _Writer, p: dict[str, str]) -> list[bytes]:
    """The segments between FKT and UNT of one message of type ``kind``."""
    inv = w.segment("INV", "", "", "", "", "", p["case"], "", "", "", p["unfalltag"])
    nad = w.segment("NAD", p["name"], p["first"], p["sex"], p["birth"], p["street"], p["plz"],
                    p["city"])
    if kind == "AUFN":
        segs = [inv, nad]
        if draw(st.booleans()):
            segs.append(w.segment("DPV", str(draw(st.integers(2000, 2099)))))
        segs.append(w.segment("AUF", draw(days), draw(times), draw(_AUFN_REASON), draw(digits(4)),
                              draw(days_or_empty), "", "", draw(iks | st.just(""))))
        for _ in range(draw(st.integers(1, 5))):
            segs.append(w.segment("EAD", draw(diagnoses), draw(diagnoses | st.just(()))))
        return segs
    if kind == "ENTL":
        segs = [inv, nad, w.segment("DPV", "2015", "2015"),
                w.segment("DAU", draw(days), draw(days))]
        segs.append(w.segment("ETL", draw(days), draw(times), draw(_ETL_REASON), "1600",
                              draw(diagnoses)))
        for _ in range(draw(st.integers(0, 4))):
            segs.append(w.segment("NDG", draw(diagnoses)))
        for _ in range(draw(st.integers(0, 4))):
            segs.append(w.segment("FAB", "1600", "", "", "", "", draw(days), draw(ops)))
        return segs
    # KOUB
    return [inv, nad, w.segment("KOS", draw(days), draw(_KOS_MARK), draw(days_or_empty))]


@st.composite
def valid_interchanges(
    draw: st.DrawFn, delimiters: st.SearchStrategy[Delimiters] = standard_delimiters,
) -> tuple[bytes, list[dict[str, str]], bool]:
    d = draw(delimiters)
    w = _Writer(d, draw(st.sampled_from([b"", b"\n", b"\r\n"])))
    test = draw(st.booleans())
    hospital = draw(iks)
    carrier = TEST_IK if test else draw(carrier_iks)
    from_carrier = draw(st.booleans())
    kinds = ["KOUB"] if from_carrier else ["AUFN", "ENTL"]
    sender, receiver = (carrier, hospital) if from_carrier else (hospital, carrier)
    app_ref = "TUVK0" + draw(digits(3)) if test else "EUVK" + draw(digits(4))
    reference = draw(digits(5))
    out = [w.segment("UNB", ("UNOC", "3"), sender, receiver, ("151127", "1200"), reference, "",
                     app_ref)]
    expected = []
    p = draw(patients)  # one patient, one case: admission, discharge, cost coverage
    for n in range(1, draw(st.integers(1, 3)) + 1):
        kind = draw(st.sampled_from(kinds))
        ref = f"{n:05d}"
        processing = draw(_PROCESSING)
        segs = [w.segment("UNH", ref, (kind, str(draw(st.integers(12, 99))), "000", "00")),
                w.segment("FKT", processing, "01", sender, receiver), *_body(draw, kind, w, p)]
        segs.append(w.segment("UNT", str(len(segs) + 1), ref))
        out += segs
        expected.append({"type": kind, "reference": ref, "case": p["case"],
                         "unfalltag": p["unfalltag"], "sender_ik": sender,
                         "receiver_ik": receiver, "processing": processing})
    out.append(w.segment("UNZ", str(len(expected)), reference))
    data = b"".join(out)
    if d != DEFAULT or draw(st.booleans()):
        data = d.una() + w.newline + data
    return data, expected, test


@MODEST
@given(valid_interchanges())
def test_random_valid_messages_validate_clean(case) -> None:
    data, expected, test = case
    for v in (_UV, _GKV):
        report = v.validate(data)
        assert report.file_errors == ()
        assert [(m.message, m.errors) for m in report.messages] == [
            (i, ()) for i in range(1, len(expected) + 1)
        ]
        for verdict, want in zip(report.messages, expected, strict=True):
            got = {k: getattr(verdict, k) for k in want}
            assert got == want
        assert report.test is test
    if test:
        assert _UV_DECLARED.validate(data).accepted


@MODEST
@given(valid_interchanges(foreign_delimiters))
def test_foreign_separators_reject_an_otherwise_clean_file(case) -> None:
    data, expected, _test = case
    for v in (_UV, _GKV):
        report = v.validate(data)
        assert [(e.code, e.segment) for e in report.file_errors] == [("1SW28", "UNA")]
        # read with the declared separators: the messages themselves are clean
        assert [[e.code for e in m.errors] for m in report.messages] == [
            ["1SW00"] for _ in expected
        ]
        for verdict, want in zip(report.messages, expected, strict=True):
            assert {k: getattr(verdict, k) for k in want} == want


# ---- (c) fast path agrees with the exact checker --------------------------------------------


def _fixed(name: str) -> bytes:
    segs = examples.message(name).splitlines()
    segs[-1] = f"UNT+{len(segs)}+00001'".encode()
    return b"\n".join(segs) + b"\n"


_FIXED = {name: _fixed(name) for name in examples.MESSAGES}
_INTERESTING = b"0123456789+:'?ABKUZ ,.!-\xe4\n"
_DIGITS = b"0123456789"

# Mutations are (op, where, position, byte). Digit-for-digit flips and segment drops and
# duplicates with a corrected UNT count often keep a message clean, so the fast path is
# really exercised, not only its "no" answer.
_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 10_000),
              st.sampled_from(list(_DIGITS))),
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 10_000),
              st.sampled_from(list(_INTERESTING)) | st.integers(0, 255)),
    st.tuples(st.just("drop"), st.integers(0, 10_000), st.just(0), st.just(0)),
    st.tuples(st.just("dup"), st.integers(0, 10_000), st.just(0), st.just(0)),
)


def _mutate(name: str, mutations: list[tuple[str, int, int, int]], fix_count: bool) -> bytes:
    segs = _FIXED[name].splitlines()
    for op, where, j, byte in mutations:
        i = where % len(segs)
        if op == "flip" and segs[i]:
            seg = bytearray(segs[i])
            k = j % len(seg)
            if byte in _DIGITS and not seg[k : k + 1].isdigit():
                continue  # digit flips only replace digits
            seg[k] = byte
            segs[i] = bytes(seg)
        elif op == "drop" and len(segs) > 1:
            del segs[i]
        elif op == "dup":
            segs.insert(i, segs[i])
    if fix_count and segs[-1].startswith(b"UNT+"):
        segs[-1] = f"UNT+{len(segs)}+00001'".encode()
    return b"\n".join(segs) + b"\n"


_FIELDS = ("type", "version", "reference", "sender_ik", "receiver_ik", "processing",
           "sequence", "case", "unfalltag")


def _fast_and_exact(v: Validator, data: bytes) -> int:
    """Check every message the fast path calls clean; return how many there were."""
    ic = sgb301.scan(data)
    hits = 0
    text = data.decode("latin-1")
    for span in ic.messages:
        if not span.complete:  # the validator's own guard
            continue
        fast = v._fast.match(text, span, ic.delimiters)
        if fast is None:
            continue
        hits += 1
        errors, exact = check_message(data, span.start, span.end, ic.delimiters, v.rules)
        assert errors == [], (data[span.start : span.end], errors)
        assert {k: getattr(fast, k) for k in _FIELDS} == {k: getattr(exact, k) for k in _FIELDS}
    return hits


@pytest.mark.parametrize("mode", ["uv", "gkv"])
def test_fast_path_takes_every_consistent_seed(mode) -> None:
    v = Validator(ValidationOptions(mode=mode))
    for name in examples.MESSAGES:
        kt = name.endswith("KOUB")
        data = examples.wrap(_FIXED[name], sender=TEST_IK if kt else examples.HOSPITAL_IK,
                             receiver=examples.HOSPITAL_IK if kt else TEST_IK)
        assert _fast_and_exact(v, data) == 1, name


@pytest.mark.parametrize("mode", ["uv", "gkv"])
@MODEST
@given(name=st.sampled_from(sorted(examples.MESSAGES)),
       mutations=st.lists(_mutation, min_size=1, max_size=4), fix_count=st.booleans())
def test_fast_path_clean_implies_exact_clean(mode, name, mutations, fix_count) -> None:
    v = _UV if mode == "uv" else _GKV
    kt = name.endswith("KOUB")
    data = examples.wrap(_mutate(name, mutations, fix_count),
                         sender=TEST_IK if kt else examples.HOSPITAL_IK,
                         receiver=examples.HOSPITAL_IK if kt else TEST_IK)
    event("fast path: clean" if _fast_and_exact(v, data) else "fast path: declined")


def test_fast_and_exact_agree_on_unt_count_with_leading_zero() -> None:
    # The verdict must not depend on whether a release character sends the message past
    # the fast path (the two once disagreed: int("010") == 10 but "010" != "10").
    plain = _FIXED["8.1.1-AUFN"].replace(b"UNT+10+", b"UNT+010+")
    released = plain.replace(b"NAD+Mustermann", b"NAD+Muster?'mann")
    verdicts = [
        _UV.validate(examples.wrap(m, sender=examples.HOSPITAL_IK, receiver=TEST_IK))
        .messages[0] for m in (plain, released)
    ]
    plain_verdict, released_verdict = verdicts
    assert plain_verdict.errors == released_verdict.errors


def test_released_values_take_the_fast_path_and_agree() -> None:
    msg = examples.message("8.1.1-AUFN").replace(b"Mustermann", b"D?'Angelo?+Co").replace(
        b"1234567", b"12?:34")
    data = examples.wrap(msg, sender="260510223", receiver="120591481")
    v = Validator()
    assert _fast_and_exact(v, data) == 1
    (verdict,) = v.validate(data).messages
    assert verdict.accepted and verdict.case == "12:34"
