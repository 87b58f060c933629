"""Staged validation of an interchange: Prüfstufe 1 (file), 2 (structure), 3 (content).

>>> v = Validator()
>>> report = v.validate(b"UNB+UNOC:3+260510223+120591481+151127:1200+00001++TUVK0001'")
>>> [e.code for e in report.file_errors]
['1SW15']
"""

from __future__ import annotations

import msgspec

from .catalogue import text_for
from .checker import check_message, check_segments
from .fastpath import FastPath, canonical_framing
from .fields import Fields
from .message_types import KH_TO_KT, KT_TO_KH, MESSAGE_TYPES
from .model import (
    ACCEPTED,
    REJECTED,
    Interchange,
    InterchangeReport,
    MessageSpan,
    MessageVerdict,
    Violation,
    fields_in_order,
)
from .options import ValidationOptions
from .rules import TEST_MARKER, UV_TEST_IK, RuleSet, rule_set
from .tokenizer import as_number, prepared_time, scan

__all__ = ["ValidationOptions", "Validator", "validate"]


def _v(code: str, tag: str, number: int, element: int, offset: int, **fmt: str) -> Violation:
    return Violation(code, int(code[0]), tag, number, element, text_for(code, **fmt),
                     offset=offset)


class Validator:
    """Validates interchanges; build once, call :meth:`validate` per buffer.

    Holds the compiled fast-path patterns, so reuse one instance in hot loops.
    ``exact`` counts the messages that took the exact checker instead of the fast path,
    ``messages`` and ``bytes`` what was validated (since the validator was built):
    observers read them, so the hot path needs no callback.
    """

    def __init__(self, options: ValidationOptions | None = None) -> None:
        self.options = options or ValidationOptions()
        self.rules: RuleSet = rule_set(self.options.mode)
        self._fast = FastPath(self.rules)
        self.exact = self.messages = self.bytes = 0

    def validate(self, data: bytes | bytearray | memoryview) -> InterchangeReport:
        """Validate one interchange. Never raises for bad input."""
        buf = data if isinstance(data, bytes) else bytes(data)
        return self.check(buf, scan(buf))

    def check(self, buf: bytes, ic: Interchange) -> InterchangeReport:
        """Prüfstufen 1–3 on an interchange already tokenized by :func:`scan` (callers
        that time tokenizing and validation separately). Never raises for bad input.

        >>> v = Validator()
        >>> buf = b"UNB+UNOC:3+260510223+120591481+151127:1200+00001++TUVK0001'"
        >>> v.check(buf, scan(buf)) == v.validate(buf)
        True
        """
        self.messages += len(ic.messages)
        self.bytes += len(buf)
        file_errors = list(ic.problems)
        if self.options.now is not None:
            created = prepared_time(ic.prepared)
            if created is not None and created > self.options.now.replace(tzinfo=None):
                file_errors.append(_v("1SW26", "UNB", 0, 4, 0))
        marker = ic.application_reference.startswith(TEST_MARKER)
        test_ic = self.options.test or marker
        if self.options.test and not marker and ic.has_unb:
            file_errors.append(_v("3SW02", "UNB", 0, 7, 0))
        text = buf.decode("latin-1") if ic.messages else ""
        breaks = "\n" in text or "\r" in text  # the usual file has none: a leaner pattern
        verdicts = []
        for span in ic.messages:
            verdict, framing = self._message(buf, text, ic, span, test_ic, marker, breaks)
            verdicts.append(verdict)
            # UNH/UNT framing is the file structure (Stufe 1): it rejects the file.
            file_errors += framing
        if file_errors:
            verdicts = [_reject_file(v) for v in verdicts]
        return InterchangeReport(ic, tuple(file_errors), tuple(verdicts), test=test_ic)

    def _message(
        self, buf: bytes, text: str, ic: Interchange, span: MessageSpan, test_ic: bool,
        marker: bool, breaks: bool,
    ) -> tuple[MessageVerdict, list[Violation]]:
        """The verdict on one message (Stufe 2/3) and its Stufe-1 framing findings."""
        d = ic.delimiters
        if span.complete:
            hit = self._fast.match(text, span, d, breaks)
            if hit is not None:
                addressed = _addressed_to_test(hit)
                if not self._predicates(hit, addressed, test_ic, marker):
                    return _verdict(span, hit, (), test_ic or addressed), _NO_FINDINGS
        self.exact += 1
        located = self._fast.locate(text, span, d)
        if located is not None:
            f, suspects = located
            errors = check_segments(buf, span.start, suspects, d, self.rules, f)
        else:
            errors, f = check_message(buf, span.start, span.end, d, self.rules,
                                      self._fast.segment)
        addressed = _addressed_to_test(f)
        errors += self._predicates(f, addressed, test_ic, marker)
        return _verdict(span, f, tuple(errors), test_ic or addressed), _stage1(span, f)

    def _predicates(
        self, f: Fields, addressed: bool, test_ic: bool, marker: bool
    ) -> list[Violation]:
        """Rules that need Python: UV test operation and responsibility (34U15)."""
        # they need test operation, the test IK or a responsibility entry: without any
        # of them (the usual message) they cannot find anything
        if not (test_ic or addressed or f.receiver_ik in self.options.responsibility
                ) or not self.rules.test_operation or not f.sender_ik:
            return _NO_FINDINGS
        out: list[Violation] = []
        direction = _direction(f)
        if test_ic and not addressed:
            element = 3 if direction == KT_TO_KH else 4
            out.append(_v("3SW01", "FKT", f.fkt_number, element, f.fkt_offset))
        if addressed and not marker and not self.options.test:
            out.append(_v("3SW02", "UNB", 0, 7, 0))
        if direction != KT_TO_KH:
            responsible = self.options.responsibility.get(f.receiver_ik)
            if responsible and responsible != f.receiver_ik:
                out.append(_v("34U15", "FKT", f.fkt_number, 4, f.fkt_offset, ik=responsible))
        return out


_NO_FINDINGS: list[Violation] = []  # shared, never appended to


_DIRECTIONS = {name: t.direction for name, t in MESSAGE_TYPES.items()}


def _direction(f: Fields) -> str:
    """KH→KT, KT→KH or both; unknown types count as sent by a hospital."""
    return _DIRECTIONS.get(f.type, KH_TO_KT)


def _addressed_to_test(f: Fields) -> bool:
    """The message goes to or comes from the UV test IK (direction-aware)."""
    direction = _direction(f)
    if direction == KH_TO_KT:
        return f.receiver_ik == UV_TEST_IK
    if direction == KT_TO_KH:
        return f.sender_ik == UV_TEST_IK
    return UV_TEST_IK in (f.sender_ik, f.receiver_ik)


def _stage1(span: MessageSpan, f: Fields) -> list[Violation]:
    """UNT present, its count and reference, UNH references in sequence: file findings
    (``segment_number`` counts within the message, ``offset`` is in the file)."""
    out: list[Violation] = []
    if not span.complete:
        out.append(_v("1SW14", "UNT", span.segments + 1, 0, span.end))
        return out
    if f.unt_reference == f.reference and canonical_framing(span, f.unt_count, f.reference):
        return out
    # Numeric comparisons, as in the fast path: "010" counts ten segments.
    unt = f.unt_offset if f.unt_offset >= 0 else span.end
    if as_number(f.unt_count) != span.segments:
        out.append(_v("1SW18", "UNT", span.segments, 1, unt))
    if f.unt_reference != f.reference:
        out.append(_v("1SW19", "UNT", span.segments, 2, unt))
    if as_number(f.reference) != span.index:
        out.append(_v("1SW20", "UNH", 1, 1, span.start))
    return out


def _verdict(
    span: MessageSpan, f: Fields, errors: tuple[Violation, ...], test: bool
) -> MessageVerdict:
    # positional, in field order (_VERDICT_FIELDS): keywords cost twice the call
    return MessageVerdict(
        span.index, f.type, f.version, f.reference, f.sender_ik, f.receiver_ik, f.case,
        REJECTED if errors else ACCEPTED, errors, span.start, span.end, f.processing,
        f.sequence, f.unfalltag, test,
    )


_VERDICT_FIELDS = ("message", "type", "version", "reference", "sender_ik", "receiver_ik",
                   "case", "verdict", "errors", "start", "end", "processing", "sequence",
                   "unfalltag", "test")
fields_in_order(MessageVerdict, _VERDICT_FIELDS)


_FILE_REJECTED = Violation("1SW00", 1, "UNB", 0, 0, text_for("1SW00"))


def _reject_file(v: MessageVerdict) -> MessageVerdict:
    return msgspec.structs.replace(v, verdict=REJECTED, errors=(*v.errors, _FILE_REJECTED))


def validate(
    data: bytes | bytearray | memoryview, options: ValidationOptions | None = None
) -> InterchangeReport:
    """Validate one interchange with a one-off :class:`Validator`.

    For many buffers build a :class:`Validator` once instead.
    """
    return Validator(options).validate(data)
