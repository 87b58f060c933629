"""UV test operation (Nachtrag Nr. 1): test IK 120591481 and the test data marker TUVK0."""

from __future__ import annotations

import pytest

from sgb301 import REJECTED, TEST_MARKER, UV_TEST_IK

OTHER_IK = "109512348"  # a valid IK that is not the test IK


def _row(e):
    return (e.code, e.stage, e.segment, e.segment_number, e.element)


def test_constants() -> None:
    assert (UV_TEST_IK, TEST_MARKER) == ("120591481", "TUVK0")


@pytest.mark.parametrize("name", ["8.1.1-AUFN", "8.1.2-AUFN", "8.1.1-ENTL", "8.1.2-KOUB"])
def test_seed_in_declared_test_operation_is_accepted(name, seed_examples, validator) -> None:
    report = validator(mode="uv", test=True).validate(seed_examples[name])
    assert report.interchange.application_reference == "TUVK0001"
    assert report.accepted
    assert report.test is True
    assert all(m.test for m in report.messages)


@pytest.mark.parametrize("test", [True, False])
def test_other_receiver_in_test_operation_is_3sw01(test, edi, validator, single) -> None:
    # marker TUVK0 present: the FKT receiver must be the test IK
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"+260510223+120591481'",
                                      f"+260510223+{OTHER_IK}'".encode()))
    verdict = single(validator(mode="uv", test=test).validate(data))
    assert verdict.verdict == REJECTED
    assert [_row(e) for e in verdict.errors] == [("3SW01", 3, "FKT", 2, 4)]
    assert verdict.test is True


def test_koub_from_other_sender_in_test_operation_is_3sw01(edi, uv, single) -> None:
    # KT→KH: the test IK is the FKT sender (element 3)
    data = edi.interchange(edi.derive("8.1.1-KOUB", b"+120591481+260510223'",
                                      f"+{OTHER_IK}+260510223'".encode()))
    verdict = single(uv.validate(data))
    assert [_row(e) for e in verdict.errors] == [("3SW01", 3, "FKT", 2, 3)]


def test_test_ik_without_marker_is_3sw02(edi, uv, single) -> None:
    data = edi.interchange(edi.fixed("8.1.1-AUFN"), application_reference="EUVK0001")
    report = uv.validate(data)
    verdict = single(report)
    assert verdict.verdict == REJECTED
    assert [_row(e) for e in verdict.errors] == [("3SW02", 3, "UNB", 0, 7)]
    # addressed to the test IK, so still treated as test data (never delivered)
    assert verdict.test is True


def test_no_marker_and_other_receiver_is_production(edi, uv, single) -> None:
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"+260510223+120591481'",
                                      f"+260510223+{OTHER_IK}'".encode()),
                           application_reference="EUVK0001")
    verdict = single(uv.validate(data))
    assert verdict.accepted
    assert verdict.test is False


def test_declared_test_without_marker_rejects_the_file(edi, validator) -> None:
    two = edi.fixed("8.1.1-AUFN") + edi.message(edi.segments("8.1.2-AUFN"), "00002")
    data = edi.interchange(two, application_reference="EUVK0001")
    report = validator(mode="uv", test=True).validate(data)
    assert [_row(e) for e in report.file_errors] == [("3SW02", 3, "UNB", 0, 7)]
    assert len(report.messages) == 2
    for verdict in report.messages:
        assert verdict.verdict == REJECTED
        assert [e.code for e in verdict.errors] == ["1SW00"]
    assert not report.accepted


def test_gkv_mode_has_no_test_operation(edi, validator) -> None:
    data = edi.interchange(edi.fixed("8.1.1-AUFN"), application_reference="EUVK0001")
    assert validator(mode="gkv").validate(data).accepted
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"+260510223+120591481'",
                                      f"+260510223+{OTHER_IK}'".encode()))
    assert validator(mode="gkv").validate(data).accepted


def test_3sw01_offset_is_the_fkt_segment(edi, uv, single) -> None:
    data = edi.interchange(edi.derive("8.1.1-AUFN", b"+260510223+120591481'",
                                      f"+260510223+{OTHER_IK}'".encode()))
    (error,) = single(uv.validate(data)).errors
    assert error.offset == data.index(b"FKT+")
