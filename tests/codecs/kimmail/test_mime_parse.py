"""``kimmail.mime``: the per-mail header memo changes nothing but the time, and the
pre-scan counts what the regexes it replaced counted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import policy
from email.headerregistry import AddressHeader, UnstructuredHeader

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kimfixtures.mails import (
    broken_mime_mail,
    cda_xml,
    client_module_notice,
    fake_form,
    kim_mail,
    many_parts_mail,
)

from kimmail import KimLimits
from kimmail import mime as mime_module
from kimmail.errors import KimError, LimitError
from kimmail.mime import MailParts, parse_mail, prescan

_LIMITS = KimLimits()


@contextmanager
def _plain_default_policy() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mime_module, "_mail_policy", lambda: policy.default)
        yield


def _summary(parts: MailParts) -> tuple[object, ...]:
    msg = parts.message
    heads = tuple((k, str(v), type(v).__name__) for k, v in msg.items())
    return (parts.parts, parts.codes, parts.rfc822, heads, str(msg.get("Subject")))


def _outcome(parse: Callable[[], MailParts]) -> tuple[object, ...]:
    try:
        return ("ok", _summary(parse()))
    except KimError as exc:
        return ("error", type(exc).__name__, exc.code)


def _same_as_policy_default(raw: bytes) -> None:
    memo = _outcome(lambda: parse_mail(raw, _LIMITS))
    with _plain_default_policy():
        plain = _outcome(lambda: parse_mail(raw, _LIMITS))
    assert memo == plain


_ENCODED_NAMES = (
    b"From: =?utf-8?q?Praxis_M=C3=BCller?= <praxis@arzt.kim.telematik>\r\n"
    b"To: befunde@md-sachsen.kim.telematik\r\n"
    b"Subject: =?utf-8?b?QmVmdW5kZSBmw7xyIDQwMDAwMDAwMDQ4MjA0MTI4OQ==?=\r\n"
    b"Message-ID: <abc@arzt.kim.telematik>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: application/pdf;\r\n name=\"=?utf-8?q?Befund_M=C3=BCller.pdf?=\"\r\n"
    b"Content-Disposition: attachment;\r\n"
    b" filename=\"=?utf-8?q?Befund_M=C3=BCller.pdf?=\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
    b"--b1\r\nContent-Type: application/pdf\r\n"
    b"Content-Disposition: attachment; filename*=utf-8''Arztbrief%20%C3%BCber.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
    b"--b1\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n"
    b"Content-Disposition: attachment;\r\n filename*0*=utf-8''Lang%C3%BCber;\r\n"
    b" filename*1=\"name.txt\"\r\n\r\nhallo\r\n"
    b"--b1\r\nContent-Type: application/pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0x!!!LjQK\r\n"
    b"--b1--\r\n"
)


@pytest.mark.parametrize(
    "raw",
    [
        kim_mail(),
        kim_mail(client_notice=True, inline=True),
        client_module_notice(kim_mail(), fehlermeldung="Fehler"),
        broken_mime_mail(),
        many_parts_mail(60),
        _ENCODED_NAMES,
    ],
    ids=["kim", "notice-inline", "rfc822", "broken", "many-parts", "encoded-names"],
)
def test_memo_policy_parses_like_policy_default(raw: bytes) -> None:
    _same_as_policy_default(raw)


def test_encoded_file_names_are_decoded() -> None:
    parts = parse_mail(_ENCODED_NAMES, _LIMITS)
    names = [p.filename for p in parts.parts]
    assert names == ["Befund Müller.pdf", "Arztbrief über.pdf", "Langübername.txt", ""]
    assert "KIM24" in parts.codes  # the bad base64 of the last part


_BASE = kim_mail(muster86=fake_form(), documents=[("B.xml", cda_xml(), "text/xml")],
                 earztbrief=False, body="Hallo")


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(_BASE)
    for _ in range(draw(st.integers(1, 5))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos:pos] = draw(st.sampled_from(
            [b"\r\n", b"--", b"=?utf-8?q?x=C3?=", b"\r\n\r\n", b"; name*=utf-8''%C3",
             b"Content-Type: multipart/mixed; boundary=q\r\n", b"\r\n ", b'"']))
    return bytes(data)


@settings(max_examples=80, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_memo_policy_parses_mutated_mails_like_policy_default(raw: bytes) -> None:
    _same_as_policy_default(raw)


def test_memo_is_per_mail_and_keyed_by_name() -> None:
    raw = (b"From: x@y.kim.telematik\r\nTo: x@y.kim.telematik\r\n"
           b"X-Same: x@y.kim.telematik\r\nSubject: a\r\n\r\nbody\r\n")
    first = parse_mail(raw, _LIMITS).message
    second = parse_mail(raw, _LIMITS).message
    assert first.policy is not second.policy
    assert first.policy.__dict__["_memo"] is not second.policy.__dict__["_memo"]
    # the same raw value under another name is a header of that name's class
    assert isinstance(first["To"], AddressHeader)
    assert isinstance(first["X-Same"], UnstructuredHeader)
    assert first["To"] is first["To"]  # parsed once


# -- pre-scan -----------------------------------------------------------------------------


def _lines(n: int, *, first: bool) -> bytes:
    head = b"--x\r\n" if first else b"From: a@b\r\n"
    return head + b"a\r\n--x\r\n" * (n - (1 if first else 0))


@pytest.mark.parametrize("first", [True, False])
def test_prescan_budget_of_boundary_lines(first: bool) -> None:
    limits = KimLimits(max_parts=10)
    budget = 2 * limits.max_parts + 8
    prescan(_lines(budget, first=first), limits)
    with pytest.raises(LimitError) as info:
        prescan(_lines(budget + 1, first=first), limits)
    assert info.value.code == "KIM21"
    # "--" inside a line is no boundary line
    prescan(b"a--b\r\n" * 10 * budget, limits)


def test_prescan_counts_rfc822_in_any_case() -> None:
    limits = KimLimits(max_parts=3)
    prescan(b"Message/RFC822 message/rfc822 MESSAGE/rfc822", limits)
    with pytest.raises(LimitError) as info:
        prescan(b"Message/RFC822 message/rfc822 MESSAGE/rfc822 message/Rfc822", limits)
    assert info.value.code == "KIM21"
