"""Output envelopes, a tagged union per family (``kind``: ``"s301"`` | ``"kim"``), and
their deterministic ids.

JSON by default, msgpack by config; the encoder is built once per process.
``raw`` is the message (UNH … UNT) unchanged, as an ISO 8859-1 string so that JSON stays
readable and the bytes come back exactly with ``raw.encode("latin-1")``. When the
envelope would exceed the record size limit, ``raw`` is empty and ``raw_blob`` holds the
claim-check reference (``sha256:…``) of the bytes in the blob store.

The id is derived from content, never from offsets, so a retry or a replay yields the
same id: ``s301:<sender IK>:<interchange ref>:<message ref>:<digest of the bytes>``; for a
mail ``kim:sha256:<digest of Message-ID and attachment digests>``.

A KIM envelope carries the original mail in ``raw`` (bytes; base64 in JSON) below the
inline limit, else ``raw_blob``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from sgb301 import Violation
from sgb301.replies import input_digest

__all__ = [
    "DocumentOut", "Envelope", "ErrorOut", "KimEnvelope", "ReasonOut", "S301Envelope", "SourceRef",
    "codec_for", "content_id", "content_prefix", "error_out",
]


class ErrorOut(msgspec.Struct, frozen=True):
    """One finding, with the field names of ``stellwerk validate --json``."""

    code: str
    stage: int
    segment: str
    segment_number: int
    element: int
    text: str


class SourceRef(msgspec.Struct, frozen=True):
    """Where the input record was read."""

    topic: str
    partition: int
    offset: int


class S301Envelope(msgspec.Struct, frozen=True, tag_field="kind", tag="s301"):
    """A routed, rejected, unroutable or test message (``message`` 0: the whole file).

    Not keyword-only: the router builds one per message positionally, five times faster
    than by keywords. The field order is also the JSON order, so it only ever grows at
    the end."""

    id: str
    type: str
    version: str
    reference: str
    sender_ik: str
    receiver_ik: str
    case: str
    verdict: str
    errors: list[ErrorOut]
    source: SourceRef
    message: int
    interchange: str
    test: bool
    raw: str
    route: str = ""
    raw_blob: str = ""
    #: Why a valid message is unroutable (e.g. its live route names an invalid topic).
    note: str = ""


class ReasonOut(msgspec.Struct, frozen=True):
    """One KIM rule finding: code, ``error`` or ``warning``, German text."""

    code: str
    severity: str
    text: str


class DocumentOut(msgspec.Struct, frozen=True):
    """One part of a mail: file name as sent, role by content, size and digest."""

    filename: str
    role: str
    content_type: str
    size: int
    sha256: str


class KimEnvelope(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="kim"):
    """An accepted, held (unmatched) or quarantined KIM mail."""

    id: str
    message_id: str
    aktenzeichen: str | None
    aktenzeichen_source: str | None
    md: str
    verdict: str
    reasons: list[ReasonOut]
    documents: list[DocumentOut]
    insured_count: int
    #: The insured's KVNR when exactly one was read (for the case join); never logged.
    kvnr: str | None
    sender: str
    source: SourceRef
    raw: bytes = b""
    raw_blob: str = ""
    route: str = ""
    note: str = ""


Envelope = S301Envelope | KimEnvelope


def error_out(v: Violation) -> ErrorOut:
    """The envelope form of a codec finding."""
    return ErrorOut(v.code, v.stage, v.segment, v.segment_number, v.element, v.text)


def content_id(prefix: str, *parts: str, content: bytes | memoryview | None = None,
               digest: bytes | None = None) -> str:
    """``prefix:part:…:<16 hex digits of BLAKE2b(content)>``: the digest is
    :func:`sgb301.replies.input_digest` (the reply's Dateinummer comes from it too);
    ``digest`` where the caller has it already."""
    if digest is None:
        if content is None:
            raise TypeError("content_id needs the content or its digest")
        digest = input_digest(content)
    return content_prefix(prefix, *parts) + digest.hex()


def content_prefix(prefix: str, *parts: str) -> str:
    """The start of :func:`content_id`, up to its digest: for ids of several messages
    that share their first parts (the router extends it per message without a call).

    >>> content_prefix("s301", "260326822", "00001")
    's301:260326822:00001:'
    """
    return ":".join((prefix, *parts, ""))


Encoder = msgspec.json.Encoder | msgspec.msgpack.Encoder
Decoder = msgspec.json.Decoder[Envelope] | msgspec.msgpack.Decoder[Envelope]


def codec_for(fmt: Literal["json", "msgpack"]) -> tuple[Encoder, Decoder]:
    """Encoder and decoder of envelopes for the configured format."""
    if fmt == "msgpack":
        return msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(Envelope)
    return msgspec.json.Encoder(), msgspec.json.Decoder(Envelope)
