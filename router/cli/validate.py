"""``stellwerk validate`` and ``stellwerk reply``: the codecs on files, for operators.

``validate`` decides by content, never by file name, what a file is: a §301 interchange
(``UNA``/``UNB`` at the start, after an optional UTF-8 BOM and white space; ``kind``
``"s301"``, one object per message and one ``"message": 0`` object for file-level
errors), a KIM mail (:func:`kimmail.looks_like_mail`; ``kind`` ``"kim"``, one object
per mail, analysed by :func:`kimmail.analyse`) or neither (``kind`` ``"unknown"``, one
rejected object in the §301 file-level shape, with the §301 finding that says why it is
no interchange). An unreadable file is an ``"unknown"`` object too (``1SW01``).

Output never contains payload content: only ids, IKs of institutions, types, codes and
positions; for mails the Aktenzeichen, the MD, reason codes with their fixed German
texts and the attachments' file names, roles, types and sizes — never a KVNR, a name,
a birth date or document text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, BinaryIO, TextIO

import msgspec
import orjson

from sgb301 import (
    REJECTED,
    InterchangeReport,
    MessageVerdict,
    ReplyError,
    ValidationOptions,
    Validator,
    Violation,
    text_for,
)
from sgb301.replies import build_reply

from ..config import Config
from ..core.envelope import error_out

if TYPE_CHECKING:
    from kimmail import KimConfig, MailVerdict

__all__ = [
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_UNREADABLE",
    "KIND_KIM",
    "KIND_S301",
    "KIND_UNKNOWN",
    "detect",
    "file_json",
    "kim_config_of",
    "mail_json",
    "message_json",
    "reply_files",
    "unknown_json",
    "validate_files",
]

EXIT_OK, EXIT_REJECTED, EXIT_UNREADABLE = 0, 1, 2
KIND_S301, KIND_KIM, KIND_UNKNOWN = "s301", "kim", "unknown"
MAIL_ACCEPTED = "accepted"  # kimmail.ACCEPTED (kimmail is imported on first use)

# How a §301 interchange starts; sgb301 itself rejects a BOM or leading spaces (10066).
_S301_START = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*UN[AB]")
_UNKNOWN_DETAIL = ("weder §301-Datei (UNA/UNB am Anfang) noch Mail (Kopfzeilen nach "
                   "RFC 5322)")
_UNREADABLE_DETAIL = "Datei nicht lesbar"
_EMPTY_DETAIL = "Datei leer"


def _read(path: str, stdin: BinaryIO) -> bytes:
    if path == "-":
        return stdin.read()
    with open(path, "rb") as fh:
        return fh.read()


def _error_json(e: Violation) -> dict[str, object]:
    """Contract fields (shared with the router's envelope) plus component and offset."""
    out: dict[str, object] = msgspec.structs.asdict(error_out(e))
    if e.component:
        out["component"] = e.component
    if e.offset >= 0:
        out["offset"] = e.offset
    return out


def message_json(source: str, v: MessageVerdict) -> dict[str, object]:
    """The ``validate --json`` object of one message (contract field names)."""
    return {
        "source": source,
        "kind": KIND_S301,
        "message": v.message,
        "type": v.type,
        "version": v.version,
        "reference": v.reference,
        "sender_ik": v.sender_ik,
        "receiver_ik": v.receiver_ik,
        "case": v.case,
        "verdict": v.verdict,
        "errors": [_error_json(e) for e in v.errors],
        "test": v.test,
    }


def file_json(source: str, report: InterchangeReport | None,
              errors: list[Violation], kind: str = KIND_S301) -> dict[str, object]:
    """The ``"message": 0`` object for a file-level rejection."""
    ic = report.interchange if report else None
    return {
        "source": source,
        "kind": kind,
        "message": 0,
        "type": "",
        "version": "",
        "reference": ic.reference if ic else "",
        "sender_ik": ic.sender_ik if ic else "",
        "receiver_ik": ic.receiver_ik if ic else "",
        "case": "",
        "verdict": REJECTED,
        "errors": [_error_json(e) for e in errors],
    }


def unknown_json(source: str, report: InterchangeReport | None,
                 errors: list[Violation], detail: str = _UNKNOWN_DETAIL) -> dict[str, object]:
    """The one rejected object of input that is neither §301 nor a mail (or unreadable):
    the §301 file-level shape with ``"kind": "unknown"`` and a German ``detail``."""
    return file_json(source, report, errors, KIND_UNKNOWN) | {"detail": detail}


def mail_json(source: str, v: MailVerdict) -> dict[str, object]:
    """The ``validate --json`` object of one KIM mail (contract field names).

    Deliberately without ``kvnr``, ``sender``, ``notice`` and attachment digests: only
    what an operator needs to see why a mail was accepted or quarantined.
    """
    return {
        "source": source,
        "kind": KIND_KIM,
        "mail_id": v.mail_id,
        "verdict": v.verdict,
        "aktenzeichen": v.aktenzeichen,
        "aktenzeichen_source": v.aktenzeichen_source,
        "md": v.md,
        "insured_count": v.insured_count,
        "reasons": [{"code": r.code, "severity": r.severity, "text": r.text}
                    for r in v.reasons],
        "attachments": [{"filename": a.filename, "role": a.role,
                         "content_type": a.content_type, "size": a.size}
                        for a in v.attachments],
    }


def detect(data: bytes) -> str:
    """What ``data`` is, by content: ``"s301"``, ``"kim"`` or ``"unknown"``.

    >>> detect(b"UNA:+,? 'UNB+UNOC:3+260510223+120591481'")
    's301'
    >>> detect(b"\\xef\\xbb\\xbf\\r\\nUNB+")  # sgb301 then rejects the BOM (10066)
    's301'
    >>> detect(b"%PDF-1.7 UNB+")  # not at the start
    'unknown'
    >>> detect(b"From: a@b.kim.telematik\\r\\nSubject: x\\r\\n\\r\\nhi")
    'kim'
    >>> detect(b"this is not edifact"), detect(b"")
    ('unknown', 'unknown')
    """
    if _S301_START.match(data):
        return KIND_S301
    from kimmail import looks_like_mail  # noqa: PLC0415 - PDF/OCR libraries only for mails

    return KIND_KIM if looks_like_mail(data) else KIND_UNKNOWN


def kim_config_of(config: Config) -> Callable[[], KimConfig]:
    """The KIM codec configuration from the router config's ``kim`` section, built on
    first use (so a run over §301 files never imports the PDF/OCR libraries)."""
    cache: list[KimConfig] = []

    def get() -> KimConfig:
        if not cache:
            from ..families.kim import codec_config  # noqa: PLC0415

            cache.append(codec_config(config))
        return cache[0]

    return get


def _unreadable(reason: str) -> Violation:
    return Violation("1SW01", 1, "", 0, 0, f"{text_for('1SW01')}: {reason}")


def _objects(source: str, data: bytes | None, reason: str, validator: Validator,
             kim: Callable[[], KimConfig]) -> Iterator[dict[str, object]]:
    if data is None:
        yield unknown_json(source, None, [_unreadable(reason)], _UNREADABLE_DETAIL)
        return
    kind = detect(data)
    if kind == KIND_KIM:
        from kimmail import analyse  # noqa: PLC0415

        yield mail_json(source, analyse(data, kim()))
        return
    report = validator.validate(data)
    if kind == KIND_UNKNOWN:
        # sgb301 always finds something here (10066, or 1SW01 for an empty file)
        errors = list(report.file_errors) or [
            Violation("10066", 1, "UNB", 0, 0, text_for("10066"))]
        yield unknown_json(source, report, errors, _UNKNOWN_DETAIL if data else _EMPTY_DETAIL)
        return
    if report.file_errors:
        yield file_json(source, report, list(report.file_errors))
    for v in report.messages:
        yield message_json(source, v)


def _human(obj: dict[str, object], out: TextIO) -> None:
    if obj["kind"] == KIND_KIM:
        _human_mail(obj, out)
        return
    errors = obj["errors"]
    assert isinstance(errors, list)
    if obj["kind"] == KIND_UNKNOWN:
        where = KIND_UNKNOWN
    else:
        where = "file" if obj["message"] == 0 else (
            f"message {obj['message']} {obj['type']} ref {obj['reference']}")
    out.write(f"{obj['source']}: {where}: {obj['verdict']}\n")
    if "detail" in obj:
        out.write(f"  {obj['detail']}\n")
    for e in errors:
        place = e["segment"] + (f"#{e['segment_number']}" if e["segment_number"] else "")
        if e["element"]:
            place += f" element {e['element']}"
        out.write(f"  {e['code']} (Prüfstufe {e['stage']}) {place}: {e['text']}\n")


def _human_mail(obj: dict[str, object], out: TextIO) -> None:
    out.write(f"{obj['source']}: kim: {obj['verdict']}\n")
    if obj["aktenzeichen"] is not None:
        out.write(f"  Aktenzeichen {obj['aktenzeichen']} ({obj['aktenzeichen_source']}), "
                  f"{obj['md']}\n")
    reasons = obj["reasons"]
    assert isinstance(reasons, list)
    for r in reasons:
        out.write(f"  {r['code']} ({r['severity']}): {r['text']}\n")


def _kim_source(kim: KimConfig | Callable[[], KimConfig] | None) -> Callable[[], KimConfig]:
    if callable(kim):
        return kim
    if kim is not None:
        fixed = kim
        return lambda: fixed

    def default() -> KimConfig:
        from kimmail import KimConfig  # noqa: PLC0415

        return KimConfig()

    return default


def validate_files(paths: list[str], *, as_json: bool, options: ValidationOptions,
                   out: TextIO, stdin: BinaryIO,
                   kim: KimConfig | Callable[[], KimConfig] | None = None) -> int:
    """Validate each path; print JSON lines or a summary; return the exit code.

    ``kim`` configures the mail analysis (a ``KimConfig`` or a function giving one,
    called at the first mail; default ``KimConfig()``). A quarantined mail counts as
    rejected (exit code 1).
    """
    validator = Validator(options)
    kim_config = _kim_source(kim)
    code = EXIT_OK
    accepted = rejected = mails_accepted = mails_quarantined = 0
    for path in paths:
        try:
            data: bytes | None = _read(path, stdin)
            reason = ""
        except OSError as exc:
            data, reason = None, exc.strerror or type(exc).__name__
            code = EXIT_UNREADABLE
        for obj in _objects(path, data, reason, validator, kim_config):
            if obj["kind"] == KIND_KIM:
                if obj["verdict"] == MAIL_ACCEPTED:
                    mails_accepted += 1
                else:  # quarantined
                    mails_quarantined += 1
                    code = max(code, EXIT_REJECTED)
            elif obj["verdict"] == REJECTED:
                if obj["message"]:
                    rejected += 1
                code = max(code, EXIT_REJECTED)
            else:
                accepted += 1
            if as_json:
                out.write(orjson.dumps(obj).decode() + "\n")
            elif (obj["kind"] == KIND_KIM or obj["verdict"] == REJECTED
                  or obj["message"] == 0):
                _human(obj, out)
    if not as_json:
        out.write(f"{len(paths)} file(s), {accepted} message(s) accepted, "
                  f"{rejected} rejected, {mails_accepted} mail(s) accepted, "
                  f"{mails_quarantined} quarantined\n")
    return code


def reply_files(paths: list[str], *, options: ValidationOptions, now: dt.datetime,
                out: BinaryIO, err: TextIO, stdin: BinaryIO) -> int:
    """Print the FEHL/KOUB reply interchange for each path (one per line)."""
    validator = Validator(options)
    code = EXIT_OK
    for path in paths:
        try:
            data = _read(path, stdin)
        except OSError as exc:
            err.write(f"{path}: unreadable: {exc.strerror or type(exc).__name__}\n")
            code = EXIT_UNREADABLE
            continue
        report = validator.validate(data)
        try:
            reply = build_reply(data, report, now=now, mode=options.mode)
        except ReplyError as exc:
            err.write(f"{path}: no reply possible: {exc}\n")
            code = max(code, EXIT_REJECTED)
            continue
        if reply is None:
            err.write(f"{path}: nothing to answer\n")
            continue
        out.write(reply.interchange + b"\n")
        err.write(f"{path}: reply to {reply.receiver_ik}: {' '.join(reply.kinds)}\n")
    return code
