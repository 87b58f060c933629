"""``stellwerk validate`` and ``stellwerk reply``: the codec on files, for operators.

Output never contains payload content: only ids, IKs of institutions, types, codes and
positions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import BinaryIO, TextIO

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

from ..core.envelope import error_out

__all__ = ["EXIT_OK", "EXIT_REJECTED", "EXIT_UNREADABLE", "reply_files", "validate_files"]

EXIT_OK, EXIT_REJECTED, EXIT_UNREADABLE = 0, 1, 2


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
              errors: list[Violation]) -> dict[str, object]:
    """The ``"message": 0`` object for a file-level rejection."""
    ic = report.interchange if report else None
    return {
        "source": source,
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


def _unreadable(reason: str) -> Violation:
    return Violation("1SW01", 1, "", 0, 0, f"{text_for('1SW01')}: {reason}")


def _objects(source: str, data: bytes | None, reason: str, validator: Validator) -> Iterator[
    dict[str, object]
]:
    if data is None:
        yield file_json(source, None, [_unreadable(reason)])
        return
    report = validator.validate(data)
    if report.file_errors:
        yield file_json(source, report, list(report.file_errors))
    for v in report.messages:
        yield message_json(source, v)


def _human(obj: dict[str, object], out: TextIO) -> None:
    errors = obj["errors"]
    assert isinstance(errors, list)
    where = "file" if obj["message"] == 0 else (
        f"message {obj['message']} {obj['type']} ref {obj['reference']}")
    out.write(f"{obj['source']}: {where}: {obj['verdict']}\n")
    for e in errors:
        place = e["segment"] + (f"#{e['segment_number']}" if e["segment_number"] else "")
        if e["element"]:
            place += f" element {e['element']}"
        out.write(f"  {e['code']} (Prüfstufe {e['stage']}) {place}: {e['text']}\n")


def validate_files(paths: list[str], *, as_json: bool, options: ValidationOptions,
                   out: TextIO, stdin: BinaryIO) -> int:
    """Validate each path; print JSON lines or a summary; return the exit code."""
    validator = Validator(options)
    code = EXIT_OK
    accepted = rejected = 0
    for path in paths:
        try:
            data: bytes | None = _read(path, stdin)
            reason = ""
        except OSError as exc:
            data, reason = None, exc.strerror or type(exc).__name__
            code = EXIT_UNREADABLE
        for obj in _objects(path, data, reason, validator):
            if obj["verdict"] == REJECTED:
                if obj["message"]:
                    rejected += 1
                code = max(code, EXIT_REJECTED)
            else:
                accepted += 1
            if as_json:
                out.write(orjson.dumps(obj).decode() + "\n")
            elif obj["verdict"] == REJECTED or obj["message"] == 0:
                _human(obj, out)
    if not as_json:
        out.write(f"{len(paths)} file(s), {accepted} message(s) accepted, "
                  f"{rejected} rejected\n")
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
