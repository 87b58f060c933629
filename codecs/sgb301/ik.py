"""Check digits of German health-care identifiers (IK, LANR).

>>> ik_valid("260326822")
True
>>> ik_check_digit("26032682")
2
"""

from __future__ import annotations

__all__ = ["ik_check_digit", "ik_valid", "lanr_valid"]

# Cross sum of 2*d for d in 0..9: the IK weights 2,1,2,1,2,1 double every other digit.
_DOUBLED_CROSS = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def ik_check_digit(first8: str) -> int:
    """Check digit of an IK from its first eight digits (digits 3–8 weighted 2,1,2,1,2,1)."""
    d = [ord(c) - 48 for c in first8[2:8]]
    total = _DOUBLED_CROSS[d[0]] + d[1] + _DOUBLED_CROSS[d[2]] + d[3] + _DOUBLED_CROSS[d[4]] + d[5]
    return total % 10


# IK → verdict. The institutions of a data stream are few and repeat (every message
# names three or four), so a dict lookup answers almost every call; a plain dict rather
# than ``lru_cache``, whose wrapper costs more than the lookup in the compiled core.
_KNOWN: dict[str, bool] = {}
_KNOWN_MAX = 65536


def ik_valid(ik: str) -> bool:
    """True if ``ik`` is nine ASCII digits with a correct check digit.

    Cached: the set of institutions in a data stream is small and repeats.
    """
    known = _KNOWN.get(ik)
    if known is not None:
        return known
    valid = (len(ik) == 9 and ik.isascii() and ik.isdigit()
             and ik_check_digit(ik[:8]) == ord(ik[8]) - 48)
    if len(_KNOWN) >= _KNOWN_MAX:  # IKs come from the input: bound the cache
        _KNOWN.clear()
    _KNOWN[ik] = valid
    return valid


def lanr_valid(lanr: str) -> bool:
    """True if a 9-digit LANR has a correct check digit (digit 7).

    Digits 1–6 weighted 4,9,4,9,4,9; check digit = (10 - sum mod 10) mod 10.
    Old numbers exist that fail this, so callers should only warn.
    """
    if len(lanr) != 9 or not lanr.isascii() or not lanr.isdigit():
        return False
    total = sum((ord(c) - 48) * w for c, w in zip(lanr[:6], (4, 9, 4, 9, 4, 9), strict=True))
    return (10 - total % 10) % 10 == ord(lanr[6]) - 48
