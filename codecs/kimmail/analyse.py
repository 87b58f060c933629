"""``analyse``: one raw KIM mail in, one :class:`~kimmail.model.MailVerdict` out.

Pure and total: no I/O, no logging, and no exception escapes for any input bytes
(limits and broken structure become reasons). The steps:

1. limits before parsing (:func:`kimmail.mime.prescan`), then parse and walk;
2. KIM result headers (decryption, integrity, client-module error mail);
3. a role for every leaf part by content (:mod:`kimmail.roles`); the form reader runs on
   every PDF/image part that could be a Muster 86, so a second form with another
   Aktenzeichen is seen; PDFs whose text layer has text but no anchor word are read
   without OCR;
4. CDA KVNRs and form KVNRs give the insured persons; form and subject give the
   Aktenzeichen; the MD rules close the verdict.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from email.message import Message
from typing import Protocol

import msgspec

from .cda import is_cda, read_cda
from .config import KimConfig
from .errors import CdaError, KimError
from .headers import addressed_to, kim_header_codes, sender_address
from .kvnr import kvnr_valid
from .mime import MailParts, Part, parse_headers, parse_mail, prescan
from .model import (
    ACCEPTED,
    QUARANTINED,
    ROLE_BODY,
    ROLE_CDA,
    ROLE_CLIENT_NOTICE,
    ROLE_DOCUMENT,
    ROLE_LETTER,
    ROLE_MUSTER86,
    ROLE_OTHER,
    Attachment,
    MailVerdict,
    Reason,
)
from .muster86 import FormLimits, FormReading, pdf_text, read_form
from .muster86.pdftext import release_held
from .reasons import CATALOGUE, ERROR, notice_for, reason
from .roles import (
    IMAGE_MEDIA,
    PDF,
    XML,
    has_anchor,
    image_intact,
    is_notice_text,
    pdf_intact,
    sniff,
)

__all__ = ["DEFAULT_CONFIG", "FormReader", "TextLayer", "analyse"]

SUBJECT = "subject"
DEFAULT_CONFIG = KimConfig()
# A text layer with at least this much text is not a bare scan: without an anchor word it
# is not read by OCR (OCR of a form costs seconds per page).
_MIN_TEXT = 20
# Reader details that mean "could not look at it": the part may hide a form, so it is
# unreadable (KIM26) rather than a plain document.
_UNREADABLE = frozenset({"unreadable-pdf", "unreadable-image", "too-many-pixels",
                         "reader-error", "ocr-failed"})


class FormReader(Protocol):
    """The signature of :func:`kimmail.muster86.read_form` (tests pass fakes)."""

    def __call__(
        self, data: bytes, media: str, *, pattern: str = ..., limits: FormLimits = ...
    ) -> FormReading: ...


TextLayer = Callable[[bytes], "str | None"]


class _Found(msgspec.Struct):
    """What the part loop collects (mutable scratch, never returned)."""

    codes: list[str] = msgspec.field(default_factory=list)
    roles: list[str] = msgspec.field(default_factory=list)
    readings: list[FormReading] = msgspec.field(default_factory=list)
    cda_kvnrs: list[str] = msgspec.field(default_factory=list)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _mail_id(message_id: str | None, attachments: tuple[Attachment, ...], raw: bytes) -> str:
    if not message_id:
        return "sha256:" + _sha256(raw)
    h = hashlib.sha256(message_id.encode("utf-8", "surrogateescape"))
    for a in attachments:
        h.update(b"\n" + a.sha256.encode("ascii"))
    return "sha256:" + h.hexdigest()


def _message_id(msg: Message) -> str | None:
    try:
        value = msg.get("Message-ID")
    except Exception:
        return None
    text = str(value).strip() if value is not None else ""
    return text or None


def _text_of(part: Part) -> str:
    return part.data.decode("utf-8", "replace")


def _safe_text(text_layer: TextLayer, data: bytes) -> str | None:
    try:
        return text_layer(data)
    except Exception:  # a text layer that cannot be read is a scan to the reader
        return None


def _read(
    reader: FormReader, data: bytes, media: str, config: KimConfig, limits: FormLimits
) -> FormReading | None:
    """The reading, or None when the part could not be examined (KIM26)."""
    try:
        reading = reader(data, media, pattern=config.md.aktenzeichen_pattern, limits=limits)
        if not reading.is_muster86 and reading.candidates and not limits.ocr:
            # A value (e.g. a barcode) on a page whose text names no form: look again
            # with OCR before calling it a plain document.
            reading = reader(
                data, media, pattern=config.md.aktenzeichen_pattern, limits=config.form
            )
    except Exception:
        return None
    if not reading.is_muster86 and reading.detail in _UNREADABLE:
        return None
    return reading


def _classify(
    parts: tuple[Part, ...],
    config: KimConfig,
    reader: FormReader,
    text_layer: TextLayer,
) -> _Found:
    found = _Found()
    pdf_candidates: list[int] = []  # indexes of PDFs that are letter or document
    cda_at: list[int] = []
    no_ocr = msgspec.structs.replace(config.form, ocr=False)
    for part in parts:
        media = sniff(part.data)
        role = ROLE_OTHER
        if part.content_type == "message/rfc822":
            role = ROLE_OTHER  # the client module's wrapper of an original: KIM05
        elif media == PDF:
            text = _safe_text(text_layer, part.data)
            if not pdf_intact(part.data):
                found.codes.append("KIM26")
                role = ROLE_DOCUMENT
            elif text is not None and is_notice_text(text):
                role = ROLE_CLIENT_NOTICE
            else:
                scanned = text is None or len("".join(text.split())) < _MIN_TEXT
                limits = config.form if scanned or has_anchor(text or "") else no_ocr
                reading = _read(reader, part.data, PDF, config, limits)
                if reading is None:
                    found.codes.append("KIM26")
                    role = ROLE_DOCUMENT
                elif reading.is_muster86:
                    role = ROLE_MUSTER86
                    found.readings.append(reading)
                else:
                    role = ROLE_DOCUMENT
                    pdf_candidates.append(len(found.roles))
        elif media in IMAGE_MEDIA:
            role = ROLE_DOCUMENT
            if not image_intact(part.data):
                found.codes.append("KIM26")
            else:
                reading = _read(reader, part.data, media, config, config.form)
                if reading is None:
                    found.codes.append("KIM26")
                elif reading.is_muster86:
                    role = ROLE_MUSTER86
                    found.readings.append(reading)
        elif media == XML and is_cda(part.data):
            role = ROLE_CDA
            cda_at.append(len(found.roles))
            try:
                info = read_cda(part.data)
            except CdaError as exc:
                found.codes.append(exc.code)
            else:
                found.cda_kvnrs.extend(k for k in info.kvnrs if k not in info.invalid)
                if info.invalid:
                    found.codes.append("KIM12")
        elif part.content_type.startswith("text/") and media != XML:
            if is_notice_text(_text_of(part)):
                role = ROLE_CLIENT_NOTICE
            elif not part.filename and part.disposition != "attachment":
                role = ROLE_BODY
                if _text_of(part).strip():
                    found.codes.append("KIM52")
            else:
                found.codes.append("KIM51")
        else:
            found.codes.append("KIM51")
        found.roles.append(role)
    if cda_at and pdf_candidates:
        # The eArztbrief's PDF travels next to its CDA; further PDFs are its Anhang
        # documents. Nearest to the first CDA wins, the earlier one on a tie.
        letter = min(pdf_candidates, key=lambda i: (abs(i - cda_at[0]), i))
        found.roles[letter] = ROLE_LETTER
    return found


def _aktenzeichen(
    found: _Found, subject: str, config: KimConfig
) -> tuple[str | None, str | None, list[str]]:
    """(value, source, codes): never a guess; several different values → KIM10."""
    pattern = config.md.aktenzeichen_pattern
    values: dict[str, str] = {}
    unreadable = False
    for r in found.readings:
        ok = (
            r.confident
            and r.aktenzeichen is not None
            and r.source in config.md.sources
            and re.fullmatch(pattern, r.aktenzeichen) is not None
        )
        if ok and r.aktenzeichen is not None and r.source is not None:
            values.setdefault(r.aktenzeichen, r.source)
        else:
            unreadable = True
    if SUBJECT in config.md.sources and subject:
        bounded = rf"(?<![0-9A-Za-z])(?:{pattern})(?![0-9A-Za-z])"
        for m in re.finditer(bounded, subject):
            values.setdefault(m.group(0), SUBJECT)
    codes: list[str] = []
    if len(values) > 1:
        return None, None, ["KIM10"]
    if unreadable and not values:
        codes.append("KIM02")
    if values:
        value, source = next(iter(values.items()))
        return value, source, codes
    return None, None, codes


def _wrong_md(found: _Found, region: str) -> bool:
    mine = region.strip().casefold()
    return any(
        name.strip().casefold() != mine for r in found.readings for name in r.md_names
    )


def _verdict(
    raw: bytes,
    config: KimConfig,
    codes: list[str],
    *,
    msg: Message | None,
    attachments: tuple[Attachment, ...] = (),
    aktenzeichen: tuple[str | None, str | None] = (None, None),
    kvnrs: tuple[str, ...] = (),
    parsed: bool = False,
) -> MailVerdict:
    order = list(CATALOGUE)
    unique = sorted(set(codes), key=order.index)
    reasons: tuple[Reason, ...] = tuple(reason(c) for c in unique)
    errors = [r.code for r in reasons if r.severity == ERROR]
    message_id = _message_id(msg) if msg is not None else None
    sender = ""
    dienst: str | None = None
    if msg is not None:
        try:
            sender = sender_address(msg)
            value = msg.get("X-KIM-Dienstkennung")
            dienst = str(value).strip() if value is not None else None
        except Exception:
            sender, dienst = "", None
    return MailVerdict(
        message_id=message_id,
        mail_id=_mail_id(message_id if parsed else None, attachments, raw),
        verdict=QUARANTINED if errors else ACCEPTED,
        aktenzeichen=aktenzeichen[0],
        aktenzeichen_source=aktenzeichen[1],
        md=config.md.name,
        insured_count=len(kvnrs),
        kvnr=kvnrs[0] if len(kvnrs) == 1 else None,
        reasons=reasons,
        notice="\n".join(notice_for(c) for c in errors) if errors else None,
        attachments=attachments,
        sender=sender,
        dienstkennung=dienst,
    )


def _headers_only(raw: bytes) -> Message | None:
    try:
        return parse_headers(raw)
    except Exception:
        return None


def _analyse(
    raw: bytes, config: KimConfig, reader: FormReader, text_layer: TextLayer
) -> MailVerdict:
    try:
        prescan(raw, config.limits)
        mail: MailParts = parse_mail(raw, config.limits)
    except KimError as exc:
        return _verdict(raw, config, [exc.code], msg=_headers_only(raw))
    msg = mail.message
    codes = list(mail.codes)
    codes.extend(kim_header_codes(msg, config.md.integrity_ok))
    if mail.rfc822:
        codes.append("KIM05")
    if not addressed_to(msg, config.md.address):
        codes.append("KIM08")
    found = _classify(mail.parts, config, reader, text_layer)
    codes.extend(found.codes)
    attachments = tuple(
        Attachment(
            filename=p.filename,
            role=role,
            content_type=p.content_type,
            size=len(p.data),
            sha256=_sha256(p.data),
        )
        for p, role in zip(mail.parts, found.roles, strict=True)
    )
    if ROLE_MUSTER86 not in found.roles and config.md.require_form:
        codes.append("KIM01")
    if not any(r in (ROLE_DOCUMENT, ROLE_LETTER) for r in found.roles):
        codes.append("KIM09")
    subject = str(msg.get("Subject") or "")
    value, source, akz_codes = _aktenzeichen(found, subject, config)
    codes.extend(akz_codes)
    if _wrong_md(found, config.md.region):
        codes.append("KIM07")
    form_kvnrs = [r.kvnr for r in found.readings if r.kvnr and kvnr_valid(r.kvnr)]
    kvnrs = tuple(dict.fromkeys([*found.cda_kvnrs, *form_kvnrs]))
    if len(kvnrs) > 1:
        codes.append("KIM06")
    return _verdict(
        raw,
        config,
        codes,
        msg=msg,
        attachments=attachments,
        aktenzeichen=(value, source),
        kvnrs=kvnrs,
        parsed=True,
    )


def analyse(
    raw: bytes,
    config: KimConfig = DEFAULT_CONFIG,
    *,
    reader: FormReader = read_form,
    text_layer: TextLayer = pdf_text,
) -> MailVerdict:
    """The verdict for one raw mail. Never raises, whatever ``raw`` holds.

    ``reader`` reads a Muster 86 from a PDF/image part (default
    :func:`kimmail.muster86.read_form`); ``text_layer`` extracts a PDF's text to spot
    client notices and to skip OCR on text documents (default
    :func:`kimmail.muster86.pdf_text`). Both may be replaced in tests.
    """
    try:
        return _analyse(bytes(raw), config, reader, text_layer)
    except Exception:  # the contract is total: an unforeseen failure is broken MIME
        data = raw if isinstance(raw, bytes) else b""
        return _verdict(data, config, ["KIM24"], msg=None)
    finally:
        release_held()  # no PDF of this mail stays open in PDFium
