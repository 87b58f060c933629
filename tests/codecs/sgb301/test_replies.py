"""FEHL and KOUB replies: addressed back, counted right, and valid themselves."""

from __future__ import annotations

import datetime as dt

import pytest

from sgb301 import ReplyError, ValidationOptions, Validator, scan
from sgb301.examples import load, message, wrap
from sgb301.replies import build_reply, reply_reference

NOW = dt.datetime(2015, 8, 22, 10, 0)


@pytest.fixture(scope="module")
def examples() -> dict[str, bytes]:
    return load()


@pytest.mark.parametrize("mode", ["uv", "gkv"])
def test_every_reply_passes_the_validator(examples: dict[str, bytes], mode: str) -> None:
    v = Validator(ValidationOptions(mode=mode))
    for name, data in examples.items():
        reply = build_reply(data, v.validate(data), now=NOW, mode=mode)
        if reply is None:
            continue
        report = v.validate(reply.interchange)
        assert report.accepted, (name, report)


def test_koub_receipt_equals_the_published_example(examples: dict[str, bytes]) -> None:
    data = examples["8.1.1-AUFN"]
    reply = build_reply(data, Validator().validate(data), now=NOW)
    assert reply is not None and reply.kinds == ("KOUB",)
    published = message("8.1.1-KOUB").replace(b"\n", b"")
    ic = scan(reply.interchange)
    span = ic.messages[0]
    assert reply.interchange[span.start : span.end] == published
    assert (ic.sender_ik, ic.receiver_ik) == ("120591481", "260510223")
    assert reply.receiver_ik == "260510223"


def test_no_koub_in_gkv_mode(examples: dict[str, bytes]) -> None:
    data = examples["8.1.1-AUFN"]
    v = Validator(ValidationOptions(mode="gkv"))
    assert build_reply(data, v.validate(data), now=NOW, mode="gkv") is None


def test_fehl_lists_every_error_with_position(examples: dict[str, bytes]) -> None:
    data = examples["8.1.1-RECH"]
    reply = build_reply(data, Validator().validate(data), now=NOW)
    assert reply is not None and reply.kinds == ("FEHL",)
    text = reply.interchange.decode("latin-1")
    assert "FKT+10+01+120591481+260510223'" in text
    # the file-level FEHL still names the message the UNT belongs to
    assert "FHL+1SW18+UNT:16:1+Anzahl der Segmente in UNT stimmt nicht+00001'" in text
    assert "1SW00" not in text
    assert "INV+" not in text  # one FEHL for the file, not one per case


def test_fehl_does_not_echo_a_faulty_inv() -> None:
    msg = message("8.1.2-AUFN").replace(b"INV++++++7654321++++BK", b"INV+X12345+++++7654321++++BK")
    data = wrap(msg, sender="260510223", receiver="120591481")
    report = Validator().validate(data)
    assert [e.code for e in report.messages[0].errors] == ["34U07"]
    reply = build_reply(data, report, now=NOW)
    assert reply is not None
    assert b"INV+" not in reply.interchange
    assert Validator().validate(reply.interchange).accepted


def test_file_level_rejection_gets_one_fehl() -> None:
    data = wrap(message("8.1.2-AUFN"), sender="260510223", receiver="120591481")
    data = data.replace(b"UNZ+1+", b"UNZ+7+")
    reply = build_reply(data, Validator().validate(data), now=NOW)
    assert reply is not None and reply.kinds == ("FEHL",)
    assert b"FHL+1SW21+UNZ::1+" in reply.interchange
    assert Validator().validate(reply.interchange).accepted


def test_text_with_service_characters_is_released() -> None:
    msg = message("8.1.2-AUFN").replace(b"Mustermann", b"D?'Angelo?+Co")
    data = wrap(msg, sender="260510223", receiver="120591481")
    report = Validator().validate(data)
    assert report.accepted
    reply = build_reply(data, report, now=NOW)
    assert reply is not None
    assert b"NAD+D?'Angelo?+Co+Max" in reply.interchange
    assert Validator().validate(reply.interchange).accepted


def test_unaddressable_sender_raises() -> None:
    report = Validator().validate(b"garbage")
    with pytest.raises(ReplyError):
        build_reply(b"garbage", report, now=NOW)


def test_reply_has_its_own_deterministic_dateinummer(examples: dict[str, bytes]) -> None:
    data = examples["8.1.1-AUFN"].replace(b"+00001++", b"+00042++").replace(
        b"UNZ+1+00001'", b"UNZ+1+00042'")
    report = Validator().validate(data)
    assert report.accepted
    first = build_reply(data, report, now=NOW)
    again = build_reply(data, report, now=NOW)
    assert first is not None and again is not None
    assert first.interchange == again.interchange  # a replay builds the same reply
    ic = scan(first.interchange)
    assert ic.reference == reply_reference(data) != "00042"
    assert first.interchange.endswith(f"UNZ+1+{ic.reference}'".encode())
    other = build_reply(data, report, now=NOW, reference="12345")
    assert other is not None and scan(other.interchange).reference == "12345"


@pytest.mark.parametrize("reference", ["1234", "123456", "12a45", ""])
def test_reply_reference_must_be_five_digits(reference: str,
                                             examples: dict[str, bytes]) -> None:
    data = examples["8.1.1-AUFN"]
    with pytest.raises(ReplyError):
        build_reply(data, Validator().validate(data), now=NOW, reference=reference)


def test_broken_sender_fields_are_not_echoed(examples: dict[str, bytes]) -> None:
    data = examples["8.1.1-AUFN"].replace(b"+00001++TUVK0001'", b"+0000X++TUV\x01K001'")
    reply = build_reply(data, Validator().validate(data), now=NOW)
    assert reply is not None and reply.kinds == ("FEHL",)
    report = Validator().validate(reply.interchange)
    assert report.file_errors == () and report.accepted
