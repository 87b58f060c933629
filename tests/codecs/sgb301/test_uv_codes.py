"""DGUV error codes (Sonderregelung Nr. 12) and excluded messages (Nr. 9).

Each case is a seed example with one minimal edit that provokes exactly one code. The
same input validated in ``gkv`` mode must not produce any DGUV code.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import pytest

from sgb301 import CATALOGUE, REJECTED, ik_valid

VALID_IK = "123456780"  # 12345678 + check digit 0
OTHER_IK = "109512348"  # 10951234 + check digit 8


class Case(NamedTuple):
    """A seed message, one edit, and the single finding it must cause."""

    id: str
    example: str
    old: bytes
    new: bytes
    code: str
    stage: int
    segment: str
    segment_number: int
    element: int
    component: int = 0


CASES = [
    Case("24U01-version-11", "8.1.1-AUFN", b"AUFN:13", b"AUFN:11", "24U01", 2, "UNH", 1, 2, 2),
    Case("24U01-version-09", "8.1.2-ENTL", b"ENTL:13", b"ENTL:09", "24U01", 2, "UNH", 1, 2, 2),
    Case("34U01-missing", "8.1.1-AUFN", b"++++20150821'", b"++++'", "34U01", 3, "INV", 3, 10),
    Case("34U01-no-element", "8.1.2-AUFN", b"7654321++++BK'", b"7654321'", "34U01", 3, "INV",
         3, 10),
    Case("34U01-bad-date", "8.1.1-ENTL", b"++++20150821'", b"++++20150231'", "34U01", 3, "INV",
         3, 10),
    Case("34U01-short", "8.1.1-AUFN", b"++++20150821'", b"++++2015082'", "34U01", 3, "INV",
         3, 10),
    Case("34U01-not-bk", "8.1.2-KOUB", b"++++BK'", b"++++BX'", "34U01", 3, "INV", 3, 10),
    Case("34U02", "8.1.1-AUFN", b"+1557+0102+", b"+1557+0602+", "34U02", 3, "AUF", 6, 3),
    Case("34U03", "8.1.2-AUFN", b"+1258+0102+", b"+1258+0101+", "34U03", 3, "AUF", 6, 3),
    Case("34U04", "8.1.1-ENTL", b"+1100+069+", b"+1100+059+", "34U04", 3, "ETL", 7, 3),
    Case("34U05-11", "8.1.1-AUFN", b"FKT+10+", b"FKT+11+", "34U05", 3, "FKT", 2, 1),
    Case("34U05-35", "8.1.2-ENTL", b"FKT+10+", b"FKT+35+", "34U05", 3, "FKT", 2, 1),
    Case("34U06", "8.1.1-RECH", b"ENT+7210I09C+", b"ENT+01100+", "34U06", 3, "ENT", 10, 1),
    Case("34U06-letter", "8.1.2-RECH", b"ENT+46005000+", b"ENT+01100A+", "34U06", 3, "ENT",
         10, 1),
    Case("34U07-versichertennr", "8.1.1-AUFN", b"INV++++++", b"INV+A123456789+++++", "34U07",
         3, "INV", 3, 1),
    Case("34U07-versichertenart", "8.1.1-AUFN", b"INV++++++", b"INV++1++++", "34U07", 3,
         "INV", 3, 2),
    Case("34U07-personenkreis", "8.1.2-AUFN", b"INV++++++", b"INV+++4+++", "34U07", 3, "INV",
         3, 3),
    Case("34U07-dmp", "8.1.1-ENTL", b"INV++++++", b"INV++++1++", "34U07", 3, "INV", 3, 4),
    Case("34U07-gueltigkeit", "8.1.1-AUFN", b"INV++++++", b"INV+++++1220+", "34U07", 3, "INV",
         3, 5),
    Case("34U08", "8.1.2-RECH", b"ZLG+0,00+1", b"ZLG+0,00+2", "34U08", 3, "ZLG", 7, 2),
    Case("34U09-06", "8.1.1-KOUB", b"+01+2015", b"+06+2015", "34U09", 3, "KOS", 5, 2),
    Case("34U09-00", "8.1.2-KOUB", b"+01+2015", b"+00+2015", "34U09", 3, "KOS", 5, 2),
]

# Excluded message types: the UNH type is changed; these types have no structure table,
# so the generic one (UNH FKT [INV] any known segments UNT) applies and the body of the
# example is structurally fine. KT→KH types are derived from the KOUB (sent by the UV
# side), KH→KT types from the AUFN, so the FKT direction matches the type.
EXCLUDED = [
    ("AMBO", "8.1.1-AUFN", "34U10"),
    ("ZGUT", "8.1.1-AUFN", "34U11"),
    ("ZAAO", "8.1.1-KOUB", "34U12"),
    ("SAMU", "8.1.1-KOUB", "34U13"),
    ("VERL", "8.1.2-AUFN", "34U14"),
    ("KAIN", "8.1.2-KOUB", "3SW10"),
    ("INKA", "8.1.1-AUFN", "3SW11"),
]

UV_CODES = re.compile(r"24U01|34U\d\d")


def _codes(report):
    assert report.file_errors == ()
    (verdict,) = report.messages
    return [e.code for e in verdict.errors]


def test_every_dguv_code_is_covered() -> None:
    covered = {c.code for c in CASES} | {code for _, _, code in EXCLUDED} | {"34U15"}
    dguv = {code for code, info in CATALOGUE.items() if info.source.startswith("DGUV")}
    assert dguv == {"24U01", *(f"34U{i:02d}" for i in range(1, 16))}
    assert dguv <= covered


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def case(request, edi) -> tuple[Case, bytes]:
    c: Case = request.param
    return c, edi.interchange(edi.derive(c.example, c.old, c.new))


def test_uv_code_alone(case, uv, single) -> None:
    c, data = case
    verdict = single(uv.validate(data))
    assert verdict.verdict == REJECTED
    assert [(e.code, e.stage, e.segment, e.segment_number, e.element, e.component)
            for e in verdict.errors] == [
        (c.code, c.stage, c.segment, c.segment_number, c.element, c.component)
    ]
    assert verdict.errors[0].text == CATALOGUE[c.code].text


def test_uv_code_points_at_its_segment(case, uv, single) -> None:
    c, data = case
    (error,) = single(uv.validate(data)).errors
    assert data[error.offset : error.offset + 4] == f"{c.segment}+".encode()


def test_gkv_mode_has_no_dguv_codes(case, gkv) -> None:
    _c, data = case
    assert not [code for code in _codes(gkv.validate(data)) if UV_CODES.fullmatch(code)]


def test_gkv_mode_accepts_the_uv_cases(case, gkv) -> None:
    # every edit above is well-formed §301; only the DGUV rules reject it
    _c, data = case
    assert gkv.validate(data).accepted


def test_version_12_is_allowed(edi, uv) -> None:
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"AUFN:13", b"AUFN:12"))
    assert uv.validate(data).accepted


@pytest.mark.parametrize("reason", [b"0102", b"0202", b"0302", b"0402", b"0502"])
def test_allowed_aufnahmegruende(reason, edi, uv) -> None:
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"+1557+0102+", b"+1557+" + reason + b"+"))
    assert uv.validate(data).accepted


@pytest.mark.parametrize("processing", [b"10", b"20", b"30", b"31", b"32", b"33", b"34", b"40",
                                        b"41"])
def test_allowed_verarbeitungskennzeichen(processing, edi, uv) -> None:
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"FKT+10+", b"FKT+" + processing + b"+"))
    assert uv.validate(data).accepted


@pytest.mark.parametrize("mark", [b"01", b"02", b"03", b"04", b"05", b"07"])
def test_allowed_pruefungsvermerke(mark, edi, uv) -> None:
    data = edi.interchange(edi.derive("8.1.1-KOUB", b"+01+2015", b"+" + mark + b"+2015"))
    assert uv.validate(data).accepted


# ---- excluded message types ---------------------------------------------------------


@pytest.fixture(params=EXCLUDED, ids=[t for t, _, _ in EXCLUDED])
def excluded(request, edi) -> tuple[str, str, bytes]:
    mtype, example, code = request.param
    kind = example.split("-")[1].encode()
    data = edi.interchange(edi.derive(example, kind + b":13", mtype.encode() + b":13"))
    return mtype, code, data


def test_excluded_type_is_rejected(excluded, uv, single) -> None:
    mtype, code, data = excluded
    verdict = single(uv.validate(data))
    assert verdict.type == mtype
    assert verdict.verdict == REJECTED
    assert code in [e.code for e in verdict.errors]
    # Nothing else: the generic structure accepts the example's body, and the FKT is
    # addressed in the type's direction (so no test-operation finding either).
    assert [(e.code, e.stage, e.segment, e.segment_number, e.element, e.component)
            for e in verdict.errors] == [(code, 3, "UNH", 1, 2, 1)]
    assert verdict.errors[0].text == CATALOGUE[code].text


def test_excluded_type_with_wrong_direction_also_gets_3sw01(edi, uv, single) -> None:
    # ZAAO is sent by the UV side; derived from the AUFN, its FKT sender is the
    # hospital, so in test operation the sender is not the test IK: 34U12 and 3SW01.
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"AUFN:13", b"ZAAO:13"), kt=True)
    verdict = single(uv.validate(data))
    assert [(e.code, e.segment, e.element) for e in verdict.errors] == [
        ("34U12", "UNH", 2), ("3SW01", "FKT", 3)
    ]


def test_gkv_mode_allows_the_excluded_types(excluded, gkv, single) -> None:
    mtype, _code, data = excluded
    verdict = single(gkv.validate(data))
    assert verdict.type == mtype
    assert verdict.accepted


# ---- 34U15: responsible UV carrier ----------------------------------------------------


@pytest.mark.parametrize("name", ["8.1.1-AUFN", "8.1.1-ENTL", "8.1.2-AUFN"])
def test_34u15_names_the_responsible_carrier(name, seed_examples, validator, single,
                                             edi) -> None:
    assert edi.valid_ik("12345678") == VALID_IK
    v = validator(mode="uv", responsibility={"120591481": VALID_IK})
    verdict = single(v.validate(seed_examples[name]))
    assert [(e.code, e.stage, e.segment, e.segment_number, e.element)
            for e in verdict.errors] == [("34U15", 3, "FKT", 2, 4)]
    assert VALID_IK in verdict.errors[0].text
    assert verdict.errors[0].text == (
        f"UV-Träger nicht zuständig. IK des zuständigen UV-Trägers: {VALID_IK}"
    )


def test_34u15_also_for_the_corrected_rech(edi, validator, single) -> None:
    v = validator(mode="uv", responsibility={"120591481": OTHER_IK})
    verdict = single(v.validate(edi.interchange(edi.fixed("8.1.2-RECH"))))
    assert [e.code for e in verdict.errors] == ["34U15"]
    assert OTHER_IK in verdict.errors[0].text


def test_34u15_not_when_the_receiver_is_responsible(seed_examples, validator) -> None:
    v = validator(mode="uv", responsibility={"120591481": "120591481", OTHER_IK: VALID_IK})
    assert v.validate(seed_examples["8.1.1-AUFN"]).accepted


@pytest.mark.parametrize("key", ["120591481", "260510223"])
def test_34u15_not_for_messages_from_the_carrier(key, seed_examples, validator) -> None:
    v = validator(mode="uv", responsibility={key: VALID_IK})
    assert v.validate(seed_examples["8.1.1-KOUB"]).accepted


def test_34u15_not_in_gkv_mode(seed_examples, validator) -> None:
    v = validator(mode="gkv", responsibility={"120591481": VALID_IK})
    assert v.validate(seed_examples["8.1.1-AUFN"]).accepted


def test_34u15_offset_is_the_fkt_segment(seed_examples, validator, single) -> None:
    data = seed_examples["8.1.1-AUFN"]
    v = validator(mode="uv", responsibility={"120591481": VALID_IK})
    (error,) = single(v.validate(data)).errors
    assert error.offset == data.index(b"FKT+")
    # the same through the exact checker (a release character disables the fast path)
    released = data.replace(b"NAD+Mustermann", b"NAD+Muster?+mann")
    (error,) = single(v.validate(released)).errors
    assert error.offset == released.index(b"FKT+")


def test_ik_constants_are_valid() -> None:
    assert ik_valid(VALID_IK)
    assert ik_valid(OTHER_IK)
