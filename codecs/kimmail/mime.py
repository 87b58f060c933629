"""Parsing a mail within :class:`~kimmail.config.KimLimits`, and walking its leaf parts.

Order of the checks, cheapest first, so a hostile mail costs little:

1. raw size (KIM20) before anything is parsed;
2. a pre-scan that counts lines starting with ``--`` (boundary delimiters) and
   ``message/rfc822`` containers: a mail with far more than ``max_parts`` of them is
   refused (KIM21) before :class:`email.parser.BytesParser` builds thousands of objects;
3. the full parse (``policy.default``, its header objects kept per mail, see
   :func:`_mail_policy`), then a walk that counts parts (KIM21) and
   nesting (KIM22), decodes each leaf and checks its size (KIM23), and collects parser
   defects (missing or unclosed boundaries, bad base64 …) as KIM24.
"""

from __future__ import annotations

import re
from email import policy
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.parser import BytesParser
from email.policy import EmailPolicy
from typing import Any

import msgspec

from .config import KimLimits
from .errors import LimitError, MimeError

__all__ = ["MailParts", "Part", "parse_headers", "parse_mail", "prescan"]

_HEADER_END = re.compile(rb"\r?\n\r?\n")


class Part(msgspec.Struct, frozen=True):
    """One leaf part, decoded. ``index`` is its 1-based position in walk order."""

    index: int
    content_type: str
    filename: str
    disposition: str | None
    data: bytes
    depth: int


class MailParts(msgspec.Struct, frozen=True):
    """The parsed top-level message, its leaf parts and what the walk found.

    ``codes`` are the limit and MIME reason codes (KIM21–KIM24); ``rfc822`` counts
    ``message/rfc822`` containers (a client-module notice wrapping the original).
    Parts inside an ``message/rfc822`` are counted for the limits but not listed.
    """

    message: Message
    parts: tuple[Part, ...]
    codes: tuple[str, ...]
    rfc822: int


class _MemoPolicy(EmailPolicy):
    """``policy.default`` that parses each distinct header field once per mail.

    The parser and the walk fetch a part's Content-Type five or six times (content type,
    main type, boundary, parameters, file name), and ``policy.default`` parses the field
    anew on every fetch. Header objects are immutable, so handing out the one already
    parsed for the same (name, raw value) changes nothing but the time. The memo lives
    as long as the one message parsed with this policy (:func:`_mail_policy`).
    """

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if hasattr(value, "name"):  # already a header object (set by a program)
            return value
        memo: dict[tuple[str, str], Any] = self.__dict__["_memo"]
        key = (name, value)
        header = memo.get(key)
        if header is None:
            header = memo[key] = super().header_fetch_parse(name, value)
        return header


class _ClassCachingRegistry(HeaderRegistry):
    """``HeaderRegistry`` that builds the class of each header kind once.

    The stdlib registry creates a new class (``type(...)``) for every header it parses;
    the classes only combine a header kind with ``BaseHeader``, so one per kind is the
    same class. Only classes are kept here, never a header value.
    """

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls


_REGISTRY = _ClassCachingRegistry()


def _mail_policy() -> EmailPolicy:
    """A fresh :class:`_MemoPolicy` (one per mail: no header is shared between mails)."""
    mail_policy = _MemoPolicy(header_factory=_REGISTRY)
    object.__setattr__(mail_policy, "_memo", {})  # policies refuse attribute assignment
    return mail_policy


def prescan(raw: bytes, limits: KimLimits) -> None:
    """Refuse oversized (KIM20) or part-bombed (KIM21) mails before parsing.

    Every part needs one delimiter line, a multipart one more for its close delimiter,
    so twice ``max_parts`` (plus slack for ``--`` signature lines in text) bounds an
    acceptable mail.
    """
    if len(raw) > limits.max_bytes:
        raise LimitError("mail larger than max_bytes", code="KIM20")
    # lines starting with "--": bytes.count is a memchr-speed scan (a regex over a
    # 16 MiB mail costs milliseconds per megabyte)
    boundary_lines = raw.startswith(b"--") + raw.count(b"\n--")
    if boundary_lines > 2 * limits.max_parts + 8:
        raise LimitError("too many boundary lines", code="KIM21")
    if raw.lower().count(b"message/rfc822") > limits.max_parts:
        raise LimitError("too many message/rfc822 containers", code="KIM21")


def parse_headers(raw: bytes) -> Message:
    """Only the header block (for the Message-ID of a mail refused before the parse)."""
    m = _HEADER_END.search(raw, 0, 256 * 1024)
    head = raw[: m.end()] if m else raw[: 256 * 1024]
    return BytesParser(policy=policy.default).parsebytes(head, headersonly=True)


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:  # a broken RFC 2231 parameter must not end the walk
        return ""
    return str(name) if name else ""


def _disposition(part: Message) -> str | None:
    try:
        value = part.get_content_disposition()
    except Exception:
        return None
    return str(value) if value else None


def _as_bytes(msg: Message) -> bytes:
    """The wrapped original as bytes (for its hash); b"" if it cannot be re-serialised."""
    try:
        return msg.as_bytes()
    except Exception:
        return b""


def parse_mail(raw: bytes, limits: KimLimits) -> MailParts:
    """Parse ``raw`` (after :func:`prescan`) and walk it within ``limits``.

    Raises :class:`LimitError` for KIM21/KIM22/KIM23 (the walk stops: the rest of
    the mail is not worth reading) and :class:`MimeError` when the parser fails;
    defects the parser recovered from are returned as KIM24 in ``codes``.
    """
    try:
        msg = BytesParser(policy=_mail_policy()).parsebytes(raw)
    except Exception as exc:
        raise MimeError(f"parser failed: {type(exc).__name__}") from None
    codes: list[str] = []
    parts: list[Part] = []
    count = 0
    rfc822 = 0
    # Iterative walk: (message, depth, listed). ``listed`` is False inside a wrapped
    # message/rfc822, whose parts are the client module's copy of the original.
    stack: list[tuple[Message, int, bool]] = [(msg, 0, True)]
    while stack:
        part, depth, listed = stack.pop()
        count += 1
        if count > limits.max_parts:
            raise LimitError("too many parts", code="KIM21")
        if depth > limits.max_depth:
            raise LimitError("nesting too deep", code="KIM22")
        if part.defects:
            codes.append("KIM24")
        ctype = part.get_content_type()
        if part.is_multipart():
            payload = part.get_payload()
            children = [c for c in payload if isinstance(c, Message)] if isinstance(
                payload, list
            ) else []
            child_listed = listed
            if ctype == "message/rfc822":
                rfc822 += 1
                child_listed = False
            stack.extend((c, depth + 1, child_listed) for c in reversed(children))
            if ctype == "message/rfc822" and listed:
                data = _as_bytes(children[0]) if children else b""
                parts.append(
                    Part(len(parts) + 1, ctype, _filename(part), _disposition(part), data,
                         depth)
                )
            continue
        try:
            decoded = part.get_payload(decode=True)
        except Exception as exc:
            raise MimeError(f"part {count} not decodable: {type(exc).__name__}") from None
        data = decoded if isinstance(decoded, bytes) else b""
        if part.defects:  # decoding records bad base64 as defects on the part
            codes.append("KIM24")
        if len(data) > limits.max_part_bytes:
            raise LimitError(f"part {count} larger than max_part_bytes", code="KIM23")
        if listed:
            parts.append(
                Part(len(parts) + 1, ctype, _filename(part), _disposition(part), data, depth)
            )
    return MailParts(msg, tuple(parts), tuple(dict.fromkeys(codes)), rfc822)
