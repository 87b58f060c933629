"""The values a check reads from a message, for its verdict.

Compiled with the core (see :mod:`sgb301._native`): there its attributes are fields of
a C struct, so the fast path's stores and the validator's reads cost a pointer each.
"""

from __future__ import annotations

__all__ = ["Fields"]


class Fields:
    """Values read while checking, for the verdict (only what routing needs).

    Every attribute has its default, so the fast path creates one by setting only what
    it read.
    """

    type: str = ""
    version: str = ""
    reference: str = ""
    processing: str = ""
    sequence: str = ""
    sender_ik: str = ""
    receiver_ik: str = ""
    case: str = ""
    unfalltag: str = ""
    unt_count: str = ""
    unt_reference: str = ""
    complete_unt: bool = False
    fkt_number: int = 2
    fkt_offset: int = -1
    unt_offset: int = -1
