"""Finding the Muster 86 fields in text (text layer or OCR output).

* anchor words of the form (tolerant to OCR noise: a few edits per word);
* the Aktenzeichen Mitteilungsmanagement: a configurable regex, preferably right after
  ``##``, never a part of a longer digit run (``#4400…`` from a misread ``##`` is no value);
* the Medizinischer Dienst named in the address block, normalised to its region;
* the KV-Nummer, accepted only with a valid check digit.

>>> sorted(anchors_in("Weiterleitungsbogen für angeforderte Befunde ... Mitteilungsmanagement"))
['angeforderte befunde', 'mitteilungsmanagement', 'weiterleitungsbogen']
>>> md_names_in("MD Sachsen\\nDokumentenlogistik-Zentrum\\nPostfach 1141\\n09070 Chemnitz")
('Sachsen',)
>>> md_names_in("Medizinischer Dienst Niedersachsen")
('Niedersachsen',)
>>> md_names_in("MD- Sachsen .")
('Sachsen',)
>>> aktenzeichen_in("Aktenzeichen Mitteilungsmanagement (MiMa) ##400000000482041289", r"[0-9]{18}")
('400000000482041289',)
>>> aktenzeichen_in("#4400000000482041289", r"[0-9]{18}")
()
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from kimmail.kvnr import kvnr_valid

__all__ = [
    "MD_REGIONS",
    "aktenzeichen_in",
    "anchors_in",
    "compile_pattern",
    "is_form_text",
    "kvnr_in",
    "md_names_in",
    "normalise",
]

# anchor -> maximum edit distance tolerated (OCR noise); compared without spaces
_ANCHORS: dict[str, int] = {
    "weiterleitungsbogen": 3,
    "mitteilungsmanagement": 3,
    "mittelungsmanagement": 3,  # the MD Niedersachsen print has this spelling
    "aktenzeichen": 2,
    "muster 86": 1,
    "mima": 0,
    "angeforderte befunde": 3,
    "daten des versicherten": 3,
    "leistungserbringer": 3,
    "anforderungsdatum": 3,
    "ansprechpartner krankenkasse": 4,
    "leistungsbereich": 3,
}
# one of these must be present: the words no letter or report carries in its own right
_STRONG = frozenset({"weiterleitungsbogen", "mitteilungsmanagement"})
_MIN_ANCHORS = 3

# canonical region names of the 15 Medizinische Dienste -> OCR-tolerant spelling; longer
# names first so "Sachsen-Anhalt" is not read as "Sachsen" nor "Nordrhein" as "Nord"
MD_REGIONS: tuple[str, ...] = (
    "Baden-Württemberg",
    "Bayern",
    "Berlin-Brandenburg",
    "Bremen",
    "Hessen",
    "Mecklenburg-Vorpommern",
    "Niedersachsen",
    "Nord",
    "Nordrhein",
    "Rheinland-Pfalz",
    "Saarland",
    "Sachsen",
    "Sachsen-Anhalt",
    "Thüringen",
    "Westfalen-Lippe",
)


def _region_regex(name: str) -> str:
    parts = []
    for word in name.split("-"):
        w = re.escape(word).replace("ü", "(?:ü|ue|u)")
        parts.append(w)
    # a compound may be read with a space, a hyphen, or a line break between its parts
    return r"[\s\-–]*".join(parts)


_REGION_ALTS = sorted(MD_REGIONS, key=len, reverse=True)
_MD_RE = re.compile(
    r"(?<![A-Za-zÄÖÜäöüß])"
    r"(?:Medizinische[rn]?\s+Dienste?s?(?:\s+der\s+Krankenversicherung)?|MDK?)"
    r"[\s\-–.:,(]*"
    r"(" + "|".join(f"(?P<r{i}>{_region_regex(n)})" for i, n in enumerate(_REGION_ALTS)) + r")"
    r"(?![A-Za-zÄÖÜäöüß]|[\-–][A-Za-zÄÖÜäöüß])",
    re.IGNORECASE,
)
# MD Sachsen's Dokumentenlogistik-Zentrum (DLZ) address in Chemnitz
_DLZ_RE = re.compile(r"Dokumentenlogistik.{0,200}?Chemnitz", re.IGNORECASE | re.DOTALL)

_KVNR_RE = re.compile(r"(?<![A-Za-z0-9])([A-Z])[ ]?([0-9]{9})(?![0-9])")


def normalise(text: str) -> str:
    """Lower case ASCII letters and digits, other characters as single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", ascii_only.lower()).split())


def _within(a: str, b: str, limit: int) -> bool:
    """Whether the edit distance of ``a`` and ``b`` is at most ``limit`` (banded DP)."""
    if abs(len(a) - len(b)) > limit:
        return False
    if limit == 0:
        return a == b
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        best = i
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            best = min(best, cur[j])
        if best > limit:
            return False
        prev = cur
    return prev[-1] <= limit


def anchors_in(text: str, *, exact: bool = False) -> frozenset[str]:
    """The anchor words/phrases of the form found in ``text``: OCR-tolerant (a few
    edits per anchor), or with ``exact`` only as spelled (a born-digital text layer)."""
    tokens = normalise(text).split()
    found: set[str] = set()
    compact = "".join(tokens)
    for anchor, limit in _ANCHORS.items():
        key = anchor.replace(" ", "")
        if key in compact:
            found.add(anchor)
            continue
        if limit == 0 or exact:
            continue
        n_words = anchor.count(" ") + 1
        # OCR splits or merges words: compare with runs of one to n+1 tokens
        for size in range(1, n_words + 2):
            if any(
                _within("".join(tokens[i : i + size]), key, limit)
                for i in range(len(tokens) - size + 1)
            ):
                found.add(anchor)
                break
    if "mittelungsmanagement" in found:  # one anchor, two spellings
        found.discard("mittelungsmanagement")
        found.add("mitteilungsmanagement")
    return frozenset(found)


def is_form_text(anchors: Iterable[str]) -> bool:
    """Whether the anchors found identify a Muster 86 (not a letter that mentions one)."""
    found = set(anchors)
    return bool(found & _STRONG) and len(found) >= _MIN_ANCHORS


def compile_pattern(pattern: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(after ``#``, standalone) regexes for the Aktenzeichen ``pattern``.

    Raises :class:`re.error` for an invalid pattern (a configuration error, not bad input).
    """
    hashed = re.compile(rf"#{{1,2}}[ ]?(?<![0-9A-Za-z])((?:{pattern}))(?![0-9A-Za-z])")
    alone = re.compile(rf"(?<![0-9A-Za-z#])((?:{pattern}))(?![0-9A-Za-z])")
    return hashed, alone


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        if v not in out:
            out.append(v)
    return tuple(out)


def aktenzeichen_in(text: str, pattern: str) -> tuple[str, ...]:
    """Distinct values of ``pattern`` in ``text``: those after ``##`` if any, else standalone.

    A value must not be part of a longer run of letters or digits.
    """
    hashed, alone = compile_pattern(pattern)
    after_hash = _unique(m.group(1) for m in hashed.finditer(text))
    if after_hash:
        return after_hash
    return _unique(m.group(1) for m in alone.finditer(text))


def md_names_in(text: str) -> tuple[str, ...]:
    """Regions of the Medizinische Dienste named in ``text`` (``()`` if none is legible)."""
    names: list[str] = []
    for m in _MD_RE.finditer(text):
        for i, name in enumerate(_REGION_ALTS):
            if m.group(f"r{i}") is not None:
                names.append(name)
                break
    if _DLZ_RE.search(text):
        names.append("Sachsen")
    return _unique(names)


def kvnr_in(text: str) -> str | None:
    """The KV-Nummer in ``text`` if exactly one distinct valid one is there."""
    valid = _unique(
        m.group(1) + m.group(2)
        for m in _KVNR_RE.finditer(text)
        if kvnr_valid(m.group(1) + m.group(2))
    )
    return valid[0] if len(valid) == 1 else None
