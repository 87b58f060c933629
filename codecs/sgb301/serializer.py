"""Writing EDIFACT: escaping values and assembling segments.

>>> segment("NAD", "D'Angelo", "Luigi")
b"NAD+D?'Angelo+Luigi'"
>>> segment("UNH", "00001", ["KOUB", "13", "000", "00"])
b"UNH+00001+KOUB:13:000:00'"
"""

from __future__ import annotations

from collections.abc import Sequence

from .delimiters import DEFAULT, Delimiters

__all__ = ["escape", "segment"]

# Characters outside ISO 8859-1 that occur in German texts (the DGUV texts quote with
# „…“); everything else outside the set becomes "?" after escaping.
_FOLD = str.maketrans({"„": '"', "“": '"', "”": '"', "‚": "'", "‘": "'", "’": "'",
                       "–": "-", "—": "-", "…": "..."})


def escape(value: str, d: Delimiters = DEFAULT) -> bytes:
    """ISO 8859-1 bytes of ``value`` with every service character released."""
    raw = value.translate(_FOLD).encode("latin-1", errors="replace")
    if d.release not in raw and d.component not in raw and d.element not in raw and (
        d.terminator not in raw
    ):
        return raw
    raw = raw.replace(d.release, d.release + d.release)
    for ch in (d.component, d.element, d.terminator):
        raw = raw.replace(ch, d.release + ch)
    return raw


def segment(tag: str, *elements: str | Sequence[str], d: Delimiters = DEFAULT) -> bytes:
    """One terminated segment; a list is a composite; trailing empty parts are dropped."""
    parts: list[bytes] = []
    for el in elements:
        comps = [el] if isinstance(el, str) else list(el)
        while comps and not comps[-1]:
            comps.pop()
        parts.append(d.component.join(escape(c, d) for c in comps))
    while parts and not parts[-1]:
        parts.pop()
    return d.element.join([tag.encode("ascii"), *parts]) + d.terminator
