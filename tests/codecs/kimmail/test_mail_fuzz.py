"""``analyse`` is total: random bytes and mutations of a valid mail give a verdict.

A fake reader keeps each example cheap (no OCR); derandomized, so runs are reproducible.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kimfixtures.mails import cda_xml, fake_form, fake_reader, kim_mail

from kimmail import KimConfig, KimLimits, MailVerdict, analyse

_SETTINGS = settings(
    max_examples=150, derandomize=True, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
_BASE = kim_mail(muster86=fake_form(), documents=[("B.xml", cda_xml(), "text/xml")],
                 earztbrief=False, body="Hallo")
_CONFIG = KimConfig(limits=KimLimits(max_parts=50, max_depth=4))


def _check(v: MailVerdict) -> None:
    assert isinstance(v, MailVerdict)
    assert v.verdict in ("accepted", "quarantined")
    assert v.mail_id.startswith("sha256:")
    if v.verdict == "quarantined":
        assert v.notice


@_SETTINGS
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    _check(analyse(data, _CONFIG, reader=fake_reader))


@_SETTINGS
@given(st.binary(max_size=512).map(lambda b: b"From: a@b\r\nContent-Type: multipart/mixed;"
                                    b' boundary="x"\r\n\r\n--x\r\n' + b))
def test_random_multipart(data: bytes) -> None:
    _check(analyse(data, _CONFIG, reader=fake_reader))


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(_BASE)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["cut", "flip", "insert", "delete", "dup"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "cut":
            del data[pos:]
        elif kind == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.sampled_from(
                [b"\r\n", b"--", b"=", b"<!DOCTYPE x>", b"\r\n\r\n", b"\x00", b"\xff\xfe",
                 b"Content-Type: multipart/mixed; boundary=q\r\n"]))
        elif kind == "delete":
            del data[pos:pos + draw(st.integers(1, 200))]
        else:
            end = min(len(data), pos + draw(st.integers(1, 400)))
            data[pos:pos] = data[pos:end]
    return bytes(data)


@_SETTINGS
@given(_mutated())
def test_mutations_of_valid_mail(data: bytes) -> None:
    _check(analyse(data, _CONFIG, reader=fake_reader))


def test_not_bytes_is_still_a_verdict() -> None:
    _check(analyse(memoryview(_BASE), reader=fake_reader))  # type: ignore[arg-type]
    _check(analyse(None, reader=fake_reader))  # type: ignore[arg-type]
