"""The values a check reads from a message, for its verdict.

A module of its own so that it stays a plain Python class when the checker and the
fast path are compiled with mypyc (see :mod:`sgb301._native`): the fast path writes the
values it read straight into the instance's ``__dict__``, one store each.
"""

from __future__ import annotations

__all__ = ["Fields"]


class Fields:
    """Values read while checking, for the verdict (only what routing needs).

    Defaults live on the class, so the fast path creates one by setting only what it
    read.
    """

    type = version = reference = ""
    processing = sequence = sender_ik = receiver_ik = ""
    case = unfalltag = ""
    unt_count = unt_reference = ""
    complete_unt = False
    fkt_number = 2
    fkt_offset = -1
    unt_offset = -1
