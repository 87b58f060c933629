"""Element formats: one definition serves both the exact checker and the fast regex.

A format is named in the layout tables (``n2``, ``an..70``, ``date``, ``ik`` …). Each
resolves to a regular expression over the element's *unescaped* bytes and the error code
reported when the value does not match. The fast path embeds the same expression into
its whole-message pattern; the exact path matches it against one value.

>>> resolve("n..6").code
'3SW20'
"""

from __future__ import annotations

import re
from functools import cache

import msgspec

from .errors import LayoutError

__all__ = ["DATE", "TIME", "Format", "fmt_pattern", "resolve"]

# A real Gregorian date JJJJMMTT, leap years included, as one expression so that the fast
# path needs no Python call per date. Ordered by how often each branch decides: days
# 01-28 of any month, then 29/30 of any month but February, 31 of the long months, and
# 29 February of a leap year last.
DATE = (
    r"(?>\d{4}(?:(?:0[1-9]|1[0-2])(?:[01][1-9]|[12]0|2[1-8])|(?:0[13-9]|1[0-2])(?:29|30)"
    r"|(?:0[13578]|1[02])31)|(?:\d\d(?:0[48]|[2468][048]|[13579][26])"
    r"|(?:[02468][048]|[13579][26])00)0229)"
)
TIME = r"(?:[01]\d|2[0-3])[0-5]\d"
_MMJJ = r"(?:0[1-9]|1[0-2])\d\d"
# ICD-10-GM code as §301 carries it: S22.05, R53, U80.00! (with * ! # markers).
_ICD = r"[A-Z]\d[0-9A-Z](?:\.[0-9A-Z-]{1,4}+)?+[!*#]?+"
# Quantifiers are possessive and groups atomic: values are delimited, so no match ever
# needs to give characters back, and the engine keeps no backtracking state (2x faster).
# OPS code without punctuation as §301 carries it: 583b53, 3203, 898711.
_OPS = r"\d[0-9a-zA-Z]{2,10}+"

# The character set of free text: ISO 8859-1 graphic characters (control bytes are a
# stage-1 finding for the whole file, so they never reach an element check).
_TEXT = r"[ -~\xa0-\xff]"


class Format(msgspec.Struct, frozen=True):
    """A resolved element format.

    ``pattern`` is a ``str`` regex source for a whole value; ``code`` the error on a
    mismatch; ``length_code`` set for length-only failures of numeric/text formats.
    ``text`` marks free-text formats whose character class depends on the delimiters.
    """

    name: str
    pattern: str
    code: str
    min_len: int = 0
    max_len: int = 0
    text: bool = False
    numeric: bool = False


_LEN = re.compile(r"(an|n)(\.\.)?(\d+)")


@cache
def resolve(name: str) -> Format:
    """Resolve a format name from the layout tables; unknown names raise LayoutError."""
    fixed = {
        "date": Format(name, DATE, "3SW22"),
        "time": Format(name, TIME, "3SW23"),
        "ik": Format(name, r"\d{9}", "3SW24"),
        "mmjj": Format(name, _MMJJ, "3SW27"),
        "icd": Format(name, _ICD, "3SW26"),
        "ops": Format(name, _OPS, "3SW26"),
        "dec": Format(name, r"-?+\d{1,10}+(?:D\d{1,2}+)?+", "3SW25"),
    }
    if name in fixed:
        return fixed[name]
    m = _LEN.fullmatch(name)
    if m is None:
        raise LayoutError(f"unknown element format {name!r}")
    kind, upto, n = m.group(1), m.group(2), int(m.group(3))
    lo = 1 if upto else n
    if kind == "n":
        return Format(name, rf"\d{{{lo},{n}}}+", "3SW20", lo, n, numeric=True)
    return Format(name, rf"{_TEXT}{{{lo},{n}}}+", "3SW21", lo, n, text=True)


def fmt_pattern(fmt: Format, decimal: bytes) -> str:
    """The value pattern of ``fmt`` with the interchange's decimal mark filled in."""
    if fmt.name == "dec":
        return fmt.pattern.replace("D", re.escape(decimal.decode("latin-1")))
    return fmt.pattern
