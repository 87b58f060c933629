"""Exceptions of the ``kimmail`` codec.

:func:`~kimmail.analyse` never raises: every finding about a mail is a
:class:`~kimmail.model.Reason` in the verdict. The exceptions below are used *inside* the
codec to stop work on a mail early (a limit is hit, the MIME structure is broken) and
are turned into reasons before ``analyse`` returns::

    KimError                 root; every exception this package raises
     ├── LimitError          a KimLimits bound was hit (carries the reason code)
     ├── MimeError           the MIME structure cannot be walked (KIM24)
     └── CdaError            a CDA document is refused (carries the reason code)

Messages never contain content of the mail (names, KVNR, document text): only codes and
structural facts such as a part number.
"""

from __future__ import annotations

__all__ = ["CdaError", "KimError", "LimitError", "MimeError"]


class KimError(Exception):
    """Root of all ``kimmail`` exceptions."""

    retriable = False
    code = "KIM24"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class LimitError(KimError):
    """A size, part-count or depth limit of :class:`~kimmail.config.KimLimits` was hit."""


class MimeError(KimError):
    """The MIME structure is broken beyond what the parser can represent."""


class CdaError(KimError):
    """A CDA document is refused (DOCTYPE/entities: KIM25; unreadable: KIM26)."""

    code = "KIM26"
