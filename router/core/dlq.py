"""The dead-letter queue: records that no family can read, kept with their bytes."""

from __future__ import annotations

from ..blobstore import BlobStore
from .envelope import content_id
from .headers import (
    BLOB_HEADER,
    DLQ,
    ERROR_HEADER,
    ID_HEADER,
    RECORD_OVERHEAD,
    SOURCE_HEADER,
)
from .records import Header, InRecord, OutRecord

__all__ = ["DeadLetters"]


class DeadLetters:
    """Builds ``stellwerk.dlq`` records: original key and bytes (or a claim check above
    ``inline_max``), the reason in ``stellwerk-error``, the position in
    ``stellwerk-source``."""

    def __init__(self, topic: str, blobs: BlobStore, inline_max: int) -> None:
        self.topic = topic
        self.blobs = blobs
        self._inline_max = inline_max

    def record(self, rec: InRecord, code: str, text: str) -> OutRecord:
        """The DLQ record of ``rec`` with reason ``code text`` (no payload in the text)."""
        value = rec.value or b""
        headers: tuple[Header, ...] = (
            (ID_HEADER, content_id("dlq", content=value).encode()),
            (ERROR_HEADER, f"{code} {text}".encode()),
            (SOURCE_HEADER, f"{rec.topic}/{rec.partition}/{rec.offset}".encode()),
        )
        if len(value) + RECORD_OVERHEAD > self._inline_max:
            headers = (*headers, (BLOB_HEADER, self.blobs.put(value).encode()))
            value = b""
        return OutRecord(self.topic, rec.key, value, headers, DLQ)

    def poison(self, rec: InRecord, reason: str) -> OutRecord:
        """DLQ record for an input whose processing failed unexpectedly."""
        return self.record(rec, "SW999", f"Verarbeitung fehlgeschlagen: {reason}")

    def undeliverable(self, rec: InRecord, reason: str) -> OutRecord:
        """DLQ record for an input one of whose outputs the broker refused for good
        (e.g. a record too large for the broker, a topic that cannot exist)."""
        return self.record(rec, "SW998", f"Ausgabe nicht zustellbar: {reason}")
