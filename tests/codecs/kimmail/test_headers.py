"""KIM result headers, client-module mails, addressing, and ``looks_like_mail``."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from kimfixtures.mails import client_module_notice, fake_form, kim_mail, many_parts_mail

from kimmail import MailVerdict, looks_like_mail
from kimmail.config import KimConfig, MdConfig

Run = Callable[..., MailVerdict]


def codes(v: MailVerdict) -> set[str]:
    return {r.code for r in v.reasons}


def mail(**kw: object) -> bytes:
    return kim_mail(muster86=fake_form(), **kw)  # type: ignore[arg-type]


def test_ok_headers_accepted(run_fake: Run) -> None:
    v = run_fake(mail())
    assert v.verdict == "accepted", v.reasons


@pytest.mark.parametrize("values", [(), ("01",), ("00", "01"), ("01", "00"), ("XX",)])
def test_kim03_decryption_absent_or_any_not_00(run_fake: Run, values: tuple[str, ...]) -> None:
    v = run_fake(mail(decryption=values))
    assert "KIM03" in codes(v)
    assert v.verdict == "quarantined"


def test_repeated_00_is_fine(run_fake: Run) -> None:
    assert "KIM03" not in codes(run_fake(mail(decryption=("00", "00"))))


@pytest.mark.parametrize("values", [("08",), ("01", "08"), ("X01",)])
def test_kim04_integrity(run_fake: Run, values: tuple[str, ...]) -> None:
    assert "KIM04" in codes(run_fake(mail(integrity=values)))


def test_integrity_ok_configurable(run_fake: Run) -> None:
    config = KimConfig(md=MdConfig(integrity_ok=("01", "X01")))
    assert "KIM04" not in codes(run_fake(mail(integrity=("X01",)), config))


def test_kim05_fehlermeldung_header(run_fake: Run) -> None:
    v = run_fake(mail(extra_headers=(("X-KIM-Fehlermeldung", "Signatur ungültig"),)))
    assert "KIM05" in codes(v)
    assert v.verdict == "quarantined"


def test_kim05_rfc822_wrapper_never_accepted(run_fake: Run) -> None:
    v = run_fake(client_module_notice(mail()))
    assert "KIM05" in codes(v)
    assert v.verdict == "quarantined"
    assert [a.content_type for a in v.attachments] == ["text/plain", "message/rfc822"]
    # The wrapped original's form is not read as the notice mail's form.
    assert v.aktenzeichen is None


def test_kim05_notice_with_fehlermeldung(run_fake: Run) -> None:
    v = run_fake(client_module_notice(mail(), fehlermeldung="Entschlüsselung fehlgeschlagen"))
    assert "KIM05" in codes(v)


def test_dienstkennung_recorded(run_fake: Run) -> None:
    assert run_fake(mail()).dienstkennung == "Arztbrief;VHitG-Versand;V1.2"
    assert run_fake(mail(earztbrief=False)).dienstkennung == "KIM-Mail;Default;V1.0"


def test_mail_id_stable_and_content_bound(run_fake: Run) -> None:
    a = run_fake(mail(message_id="<m1@arzt.kim.telematik>"))
    b = run_fake(mail(message_id="<m1@arzt.kim.telematik>"))
    c = run_fake(mail(message_id="<m2@arzt.kim.telematik>"))
    d = run_fake(mail(message_id="<m1@arzt.kim.telematik>", documents=[]))
    assert a.mail_id == b.mail_id
    assert a.mail_id.startswith("sha256:") and len(a.mail_id) == 7 + 64
    assert len({a.mail_id, c.mail_id, d.mail_id}) == 3
    assert a.message_id == "<m1@arzt.kim.telematik>"


def test_mail_id_without_message_id_is_raw_digest(run_fake: Run) -> None:
    raw = mail(message_id="")
    v = run_fake(raw)
    assert v.message_id is None
    assert v.mail_id == "sha256:" + hashlib.sha256(raw).hexdigest()


@pytest.mark.parametrize(
    "data",
    [
        b"From: a@b.kim.telematik\r\nTo: c@d\r\n\r\nx",
        b"Received: from x\r\n\tby y\r\nMessage-ID: <1@x>\r\n\r\n",
        b"MIME-Version: 1.0\nContent-Type: text/plain\n\nhallo",
        b"Return-Path: <a@b>\r\nX-Foo: 1\r\n",
    ],
)
def test_looks_like_mail_true(data: bytes) -> None:
    assert looks_like_mail(data)


@pytest.mark.parametrize(
    "data",
    [
        b"UNA:+.? 'UNB+UNOC:3+260510223+120591481+151127:1200+00001'",
        b"UNB+UNOC:3+260510223+120591481+151127:1200+00001'",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
        b"\x89PNG\r\n\x1a\n\x00\x00",
        b"From: a@b\x00\x00binary",
        b"Name: Wert\r\nAnders: 2\r\n\r\n",  # header-shaped, but no mail header
        b"",
        b"hello world\r\n",
        b" From: folded first line\r\n",
    ],
)
def test_looks_like_mail_false(data: bytes) -> None:
    assert not looks_like_mail(data)


def test_looks_like_mail_on_fixtures() -> None:
    assert looks_like_mail(mail())
    assert looks_like_mail(many_parts_mail(10))
