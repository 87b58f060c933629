"""Code lists (Schlüsselverzeichnis, Anlage 2) checked in every mode, Prüfstufe 3.

Only keys confirmed in ``domain/s301.md`` are listed; extend a row to widen a list.
"""

from __future__ import annotations

from .base import ValueRule

__all__ = ["CODE_LIST_RULES"]

_CODE = "3SW03"

CODE_LIST_RULES: tuple[ValueRule, ...] = (
    ValueRule(_CODE, "NAD", 3, allowed=r"[mwdx]"),
    # Schlüssel 1 Aufnahmegrund: Stellen 1–2 and 3–4.
    ValueRule(_CODE, "AUF", 3, allowed=r"(?:0[1-8]|1[01])(?:0[1-4]|0[6-8])"),
    # Schlüssel 5 Entlassungs-/Verlegungsgrund: Stellen 1–2 and 3.
    ValueRule(_CODE, "ETL", 3, allowed=r"(?:0\d|1[0-5]|17|2[1-5])[1-69]", forbidden=r"00\d"),
    ValueRule(_CODE, "CUX", 1, allowed=r"EUR"),
    ValueRule(_CODE, "UNH", 2, component=3, allowed=r"000"),
    ValueRule(_CODE, "UNH", 2, component=4, allowed=r"00"),
)
