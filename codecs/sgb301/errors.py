"""Exceptions of the ``sgb301`` codec.

Validation never raises: findings about the *input* are returned as
:class:`~sgb301.model.Violation` records. Exceptions are reserved for calls that
cannot produce a result at all::

    Sgb301Error                  root; every exception this package raises
     ├── EdifactSyntaxError      bytes that cannot be read as EDIFACT (carries the position)
     ├── LayoutError             an inconsistent layout or rule table (raised at import/build)
     └── ReplyError              no reply can be addressed (e.g. no valid sender IK)

``retriable`` is data on the class: no codec error becomes better by trying again.
"""

from __future__ import annotations

__all__ = ["EdifactSyntaxError", "LayoutError", "ReplyError", "Sgb301Error"]


class Sgb301Error(Exception):
    """Root of all ``sgb301`` exceptions."""

    retriable = False


class EdifactSyntaxError(Sgb301Error):
    """Input that is not readable EDIFACT.

    ``offset`` is the byte offset into the original buffer, ``segment_number`` the
    1-based segment count within the interchange (0 if unknown).
    """

    def __init__(self, message: str, *, offset: int, segment_number: int = 0) -> None:
        super().__init__(f"{message} (byte {offset}, segment {segment_number})")
        self.reason = message
        self.offset = offset
        self.segment_number = segment_number


class LayoutError(Sgb301Error):
    """A layout, structure or rule table contradicts itself."""


class ReplyError(Sgb301Error):
    """A FEHL or KOUB reply cannot be built for this message."""
