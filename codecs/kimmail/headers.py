"""Header checks: is it a mail at all, the KIM result headers, addressing.

>>> looks_like_mail(b"From: a@b.kim.telematik\\r\\nSubject: x\\r\\n\\r\\nhi")
True
>>> looks_like_mail(b"UNA:+.? 'UNB+UNOC:3+260510223+120591481'")
False
"""

from __future__ import annotations

import re
from email.message import Message
from email.utils import getaddresses, parseaddr

__all__ = [
    "DIENSTKENNUNG_EARZTBRIEF",
    "addressed_to",
    "header_values",
    "kim_header_codes",
    "looks_like_mail",
    "sender_address",
]

DIENSTKENNUNG_EARZTBRIEF = "Arztbrief;VHitG-Versand;V1.2"
_DECRYPTION_OK = "00"

# Header names that a mail (as fetched by POP3 from a KIM client module) starts with;
# one of them must appear among the leading header lines, so an arbitrary "key: value"
# text file is not taken for a mail.
_KNOWN = frozenset(
    {
        b"from", b"message-id", b"mime-version", b"received", b"return-path", b"date",
        b"to", b"subject", b"delivered-to", b"content-type", b"x-kim-dienstkennung",
        b"x-kim-decryptionresult", b"x-kim-integritycheckresult", b"x-kim-sendersystem",
    }
)
_FIELD = re.compile(rb"([!-9;-~]+)[ \t]*:")
_HEAD_SCAN = 16 * 1024


def looks_like_mail(data: bytes) -> bool:
    """Whether ``data`` starts with RFC 5322 header lines (a known one among them).

    False for EDIFACT (``UNA``/``UNB`` at the start), for binary data (NUL bytes in the
    head) and for text whose first line is not a header field.
    """
    head = bytes(data[:_HEAD_SCAN])
    stripped = head.lstrip(b"\xef\xbb\xbf")
    if stripped[:3] in (b"UNA", b"UNB") or b"\x00" in head:
        return False
    known = False
    lines = stripped.split(b"\n")
    # The last line of a truncated head may be cut in the middle: do not judge it.
    if len(head) == _HEAD_SCAN and len(lines) > 1:
        lines = lines[:-1]
    for i, raw_line in enumerate(lines):
        line = raw_line.rstrip(b"\r")
        if not line:
            return known and i > 0
        if line[:1] in (b" ", b"\t"):
            if i == 0:
                return False
            continue  # folded continuation of the previous field
        m = _FIELD.match(line)
        if m is None:
            return False
        if m.group(1).lower() in _KNOWN:
            known = True
    return known


def header_values(msg: Message, name: str) -> list[str]:
    """Every occurrence of header ``name`` (headers may repeat), stripped."""
    return [str(v).strip() for v in (msg.get_all(name) or [])]


def kim_header_codes(msg: Message, integrity_ok: tuple[str, ...]) -> list[str]:
    """Reason codes from the KIM result headers of the top-level message.

    ``X-KIM-DecryptionResult`` must be present and every occurrence ``00`` (KIM03): a
    repeated header with one failing value is a failure. Every
    ``X-KIM-IntegrityCheckResult`` must be in ``integrity_ok`` (KIM04); an absent one is
    not a failure (the client module only adds it for signed mail). ``X-KIM-Fehlermeldung``
    marks an error mail of the client module (KIM05).
    """
    codes: list[str] = []
    decryption = header_values(msg, "X-KIM-DecryptionResult")
    if not decryption or any(v != _DECRYPTION_OK for v in decryption):
        codes.append("KIM03")
    integrity = header_values(msg, "X-KIM-IntegrityCheckResult")
    if any(v not in integrity_ok for v in integrity):
        codes.append("KIM04")
    if msg.get_all("X-KIM-Fehlermeldung"):
        codes.append("KIM05")
    return codes


def _addresses(msg: Message, *names: str) -> list[str]:
    values: list[str] = []
    for name in names:
        values.extend(str(v) for v in (msg.get_all(name) or []))
    return [addr.strip().casefold() for _, addr in getaddresses(values) if addr]


def addressed_to(msg: Message, address: str) -> bool:
    """Whether ``address`` is among the To/Cc recipients (case-insensitive)."""
    return address.strip().casefold() in _addresses(msg, "To", "Cc")


def sender_address(msg: Message) -> str:
    """The From address (addr-spec only), ``""`` if there is none."""
    value = msg.get("From")
    if value is None:
        return ""
    return parseaddr(str(value))[1]
