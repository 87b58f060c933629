"""Krankenversichertennummer (KVNR): one letter, eight digits, one check digit.

The letter becomes its position in the alphabet as two digits (A = 01 … Z = 26); the ten
digits that result (two for the letter, eight) are weighted 1, 2, 1, 2, …; products above
9 are replaced by their cross sum; the sum modulo 10 is the check digit.

>>> kvnr_valid("A123456780")
True
>>> kvnr_valid("A123456781")
False
"""

from __future__ import annotations

import re

__all__ = ["KVNR_PATTERN", "kvnr_check_digit", "kvnr_valid"]

KVNR_PATTERN = re.compile(r"[A-Z][0-9]{9}")


def kvnr_check_digit(first9: str) -> int:
    """Check digit for the letter and eight digits ``first9`` (e.g. ``"A12345678"``)."""
    letter = ord(first9[0]) - ord("A") + 1
    digits = f"{letter:02d}{first9[1:]}"
    total = 0
    for i, ch in enumerate(digits):
        product = int(ch) * (1 if i % 2 == 0 else 2)
        total += product // 10 + product % 10
    return total % 10


def kvnr_valid(kvnr: str) -> bool:
    """Whether ``kvnr`` has the KVNR form and a correct check digit."""
    if KVNR_PATTERN.fullmatch(kvnr) is None:
        return False
    return kvnr_check_digit(kvnr[:9]) == int(kvnr[9])
