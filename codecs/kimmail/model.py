"""Records :func:`~kimmail.analyse` returns: the verdict, its reasons and attachments.

All are frozen ``msgspec.Struct``s. No record holds document content; an
:class:`Attachment` names a part by file name, role, type, size and SHA-256, and the
router takes the bytes from the raw mail it already has.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "ACCEPTED",
    "QUARANTINED",
    "ROLES",
    "ROLE_BODY",
    "ROLE_CDA",
    "ROLE_CLIENT_NOTICE",
    "ROLE_DOCUMENT",
    "ROLE_LETTER",
    "ROLE_MUSTER86",
    "ROLE_OTHER",
    "Attachment",
    "MailVerdict",
    "Reason",
]

ACCEPTED = "accepted"
QUARANTINED = "quarantined"

ROLE_MUSTER86 = "muster86"
ROLE_CDA = "cda"
ROLE_LETTER = "letter"
ROLE_DOCUMENT = "document"
ROLE_CLIENT_NOTICE = "client-notice"
ROLE_BODY = "body"
ROLE_OTHER = "other"
ROLES = (
    ROLE_MUSTER86,
    ROLE_CDA,
    ROLE_LETTER,
    ROLE_DOCUMENT,
    ROLE_CLIENT_NOTICE,
    ROLE_BODY,
    ROLE_OTHER,
)


class Reason(msgspec.Struct, frozen=True):
    """One finding: code (``KIM01`` …), ``"error"`` or ``"warning"``, German text."""

    code: str
    severity: str
    text: str


class Attachment(msgspec.Struct, frozen=True):
    """One leaf part of the mail (inline parts and the mail text included).

    ``role`` is decided by content (see :mod:`kimmail.roles`), never by ``filename``;
    ``size`` and ``sha256`` (hex) are of the decoded bytes.
    """

    filename: str
    role: str
    content_type: str
    size: int
    sha256: str


class MailVerdict(msgspec.Struct, frozen=True):
    """The result of :func:`~kimmail.analyse` for one mail.

    ``mail_id`` is ``"sha256:"`` + SHA-256 over the Message-ID and each attachment's
    SHA-256 (so a re-delivery of the same mail gets the same id); without a Message-ID,
    or when the mail could not be parsed, it is the SHA-256 of the raw mail.
    ``kvnr`` is set only when exactly one insured person was found; it is for the
    router's case join and must never be logged. ``notice`` is the German text for the
    sender (what to fix) when quarantined. ``dienstkennung`` is the
    ``X-KIM-Dienstkennung`` header (``Arztbrief;VHitG-Versand;V1.2`` for an eArztbrief).
    """

    message_id: str | None
    mail_id: str
    verdict: str
    aktenzeichen: str | None
    aktenzeichen_source: str | None
    md: str
    insured_count: int
    kvnr: str | None
    reasons: tuple[Reason, ...]
    notice: str | None
    attachments: tuple[Attachment, ...]
    sender: str
    dienstkennung: str | None = None

    @property
    def accepted(self) -> bool:
        """Whether the mail may be routed to a case."""
        return self.verdict == ACCEPTED

    def codes(self) -> tuple[str, ...]:
        """The reason codes, in order."""
        return tuple(r.code for r in self.reasons)
