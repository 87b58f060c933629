"""Fixtures for the ``kimmail`` tests: mails from :mod:`kimfixtures.mails`, fake readers.

The real form reader is used on text-layer Muster 86 PDFs (fast: no OCR). Cases the
fixtures cannot draw (an unconfident reading, an OCR source) use :func:`fake_reader`,
which answers from a marker in the bytes: ``FAKE-M86|<akz>|<md>|<kvnr>|<source>|<0/1>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from kimmail import KimConfig, MailVerdict, analyse
from kimmail.muster86 import FormLimits, FormReading

_NO_LIMITS = FormLimits()
_CONFIG = KimConfig()
_MARKER = re.compile(rb"FAKE-M86\|([0-9]*)\|([^|]*)\|([A-Z0-9]*)\|([a-z-]*)\|([01])")


def fake_form(
    aktenzeichen: str = "400000000482041289",
    *,
    md: str = "Sachsen",
    kvnr: str = "A123456780",
    source: str = "pdf-text",
    confident: bool = True,
) -> bytes:
    """A tiny complete PDF carrying the fake reader's marker."""
    marker = f"FAKE-M86|{aktenzeichen}|{md}|{kvnr}|{source}|{int(confident)}"
    return _tiny_pdf(marker)


def _tiny_pdf(comment: str) -> bytes:
    # A one-page PDF that pypdf opens; the marker sits in a comment line.
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    out = bytearray(b"%PDF-1.4\n%" + comment.encode() + b"\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def fake_reader(
    data: bytes, media: str, *, pattern: str = r"[0-9]{18}", limits: FormLimits = _NO_LIMITS
) -> FormReading:
    """Answers from the marker of :func:`fake_form`; anything else is no form."""
    m = _MARKER.search(data)
    if m is None:
        return FormReading(
            is_muster86=False, aktenzeichen=None, source=None, candidates=(), confident=False,
            md_names=(), kvnr=None, detail="no marker",
        )
    akz, md, kvnr, source, conf = (g.decode() for g in m.groups())
    confident = conf == "1" and bool(akz)
    return FormReading(
        is_muster86=True,
        aktenzeichen=akz if confident else None,
        source=source or None,
        candidates=(akz,) if akz else (),
        confident=confident,
        md_names=(md,) if md else (),
        kvnr=kvnr or None,
        detail="fake",
    )


def no_text(data: bytes) -> str | None:
    """A text layer that never finds text (every PDF looks like a scan)."""
    return None


@pytest.fixture
def run_fake() -> Callable[..., MailVerdict]:
    """``analyse`` with the fake reader."""

    def run(raw: bytes, config: KimConfig = _CONFIG) -> MailVerdict:
        return analyse(raw, config, reader=fake_reader)

    return run
