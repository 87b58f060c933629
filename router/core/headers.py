"""Names shared by every family: record headers and the terminal kinds of outputs."""

from __future__ import annotations

__all__ = [
    "ANSWERS_HEADER", "BLOB_HEADER", "DLQ", "ENVELOPE_HEADER", "ERROR_HEADER", "ID_HEADER",
    "NOTICE", "QUARANTINE", "RECORD_OVERHEAD", "REJECT", "RELEASED", "REPLY", "ROUTED",
    "SOURCE_HEADER", "TEST", "TOMBSTONE", "TYPE_HEADER", "UNMATCHED", "UNROUTABLE",
    "VERDICT_HEADER",
]

ID_HEADER = "stellwerk-id"
TYPE_HEADER = "stellwerk-type"
VERDICT_HEADER = "stellwerk-verdict"
ENVELOPE_HEADER = "stellwerk-envelope"
ERROR_HEADER = "stellwerk-error"
SOURCE_HEADER = "stellwerk-source"
BLOB_HEADER = "stellwerk-blob"
ANSWERS_HEADER = "stellwerk-answers"
#: Bytes a record needs beyond key, value and headers (record and batch framing).
RECORD_OVERHEAD = 128

# Terminal kinds (``OutRecord.kind``): what metrics and tests count.
ROUTED, REJECT, UNROUTABLE, TEST, REPLY, DLQ = (
    "routed", "rejected", "unroutable", "test", "reply", "dlq")
QUARANTINE, UNMATCHED, NOTICE, RELEASED, TOMBSTONE = (
    "quarantine", "unmatched", "notice", "released", "tombstone")
