"""Limits and broken structure: each bound of KimLimits, MIME defects, unreadable files."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

from kimfixtures.mails import (
    MD_ADDRESS,
    SENDER,
    billion_laughs_cda,
    broken_mime_mail,
    fake_form,
    huge_mail,
    kim_mail,
    many_parts_mail,
    truncated_pdf_mail,
    xxe_cda,
)
from PIL import Image

from kimmail import KimConfig, KimLimits, MailVerdict

Run = Callable[..., MailVerdict]


def codes(v: MailVerdict) -> set[str]:
    return {r.code for r in v.reasons}


def test_kim20_mail_too_big(run_fake: Run) -> None:
    raw = huge_mail(15.5)
    assert len(raw) > KimLimits().max_bytes
    t0 = time.perf_counter()
    v = run_fake(raw)
    assert time.perf_counter() - t0 < 1.0
    assert codes(v) == {"KIM20"}
    assert v.verdict == "quarantined"
    assert v.message_id is not None  # taken from the header block only
    assert v.sender == SENDER


def test_kim21_part_bomb_rejected_fast(run_fake: Run) -> None:
    raw = many_parts_mail(10_000)
    t0 = time.perf_counter()
    v = run_fake(raw)
    elapsed = time.perf_counter() - t0
    assert codes(v) == {"KIM21"}
    assert elapsed < 0.5, elapsed


def test_kim21_counted_while_walking(run_fake: Run) -> None:
    # 60 parts pass the pre-scan for max_parts=50 (budget 108 lines) but not the walk.
    v = run_fake(many_parts_mail(60), KimConfig(limits=KimLimits(max_parts=50)))
    assert codes(v) == {"KIM21"}


def _nested(depth: int) -> bytes:
    head = (
        f"From: {SENDER}\r\nTo: {MD_ADDRESS}\r\nMessage-ID: <deep@x>\r\n"
        "X-KIM-DecryptionResult: 00\r\nMIME-Version: 1.0\r\n"
    )
    body = "Content-Type: text/plain\r\n\r\ninnen\r\n"
    for i in range(depth):
        body = (
            f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n'
            f"--b{i}\r\n{body}--b{i}--\r\n"
        )
    return (head + body).encode()


def test_kim22_too_deep(run_fake: Run) -> None:
    assert "KIM22" not in codes(run_fake(_nested(5)))
    assert codes(run_fake(_nested(6))) == {"KIM22"}


def test_kim23_part_too_big(run_fake: Run) -> None:
    limits = KimLimits(max_part_bytes=1000)
    v = run_fake(kim_mail(muster86=fake_form(), earztbrief=False), KimConfig(limits=limits))
    assert codes(v) == {"KIM23"}


def test_kim24_broken_mime(run_fake: Run) -> None:
    v = run_fake(broken_mime_mail())
    assert "KIM24" in codes(v)
    assert v.verdict == "quarantined"


def test_kim24_missing_closing_boundary_only(run_fake: Run) -> None:
    raw = kim_mail(muster86=fake_form(), earztbrief=False)
    boundary_end = raw.rstrip().rsplit(b"\n", 1)[0]  # drop the close delimiter line
    assert "KIM24" in codes(run_fake(boundary_end))


def test_kim25_xxe_and_billion_laughs(run_fake: Run) -> None:
    for cda in (xxe_cda(), billion_laughs_cda()):
        t0 = time.perf_counter()
        v = run_fake(kim_mail(muster86=fake_form(), cda=cda))
        assert time.perf_counter() - t0 < 2.0
        assert "KIM25" in codes(v)
        assert "root:" not in repr(v)  # /etc/passwd was not read


def test_kim26_truncated_pdf(run_fake: Run) -> None:
    v = run_fake(truncated_pdf_mail())
    assert "KIM26" in codes(v)


def test_kim26_truncated_jpeg(run_fake: Run) -> None:
    buf = io.BytesIO()
    Image.new("L", (64, 64), 200).save(buf, format="JPEG")
    cut = buf.getvalue()[:-200]
    v = run_fake(kim_mail(muster86=fake_form(), documents=[("a.jpg", cut, "image/jpeg")]))
    assert "KIM26" in codes(v)
