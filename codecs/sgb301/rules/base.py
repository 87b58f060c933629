"""Rule records shared by the rule tables.

A :class:`ValueRule` constrains one field of one segment with a regular expression; it
is data, so the exact checker and the fast-path compiler read the same row. Rules that
need Python (check digits, a responsibility table) are small functions in
:mod:`sgb301.validator` driven by the :class:`RuleSet` flags.
"""

from __future__ import annotations

import msgspec

__all__ = ["RuleSet", "ValueRule"]


class ValueRule(msgspec.Struct, frozen=True):
    """``tag``-``element``:``component`` must match ``allowed`` and not match ``forbidden``.

    Patterns match the whole unescaped value. ``required``: an absent or empty value is
    itself a violation. ``types`` limits the rule to some message types (None = all).
    Rules only target fields whose format excludes delimiters and the release
    character (codes, dates, numbers), so the fast path may test the raw bytes.
    """

    code: str
    tag: str
    element: int
    allowed: str | None = None
    forbidden: str | None = None
    component: int = 1
    required: bool = False
    types: frozenset[str] | None = None


class RuleSet(msgspec.Struct, frozen=True):
    """All content rules of one validation mode."""

    name: str
    value_rules: tuple[ValueRule, ...]
    excluded_types: dict[str, str] = {}
    min_version: int = 0
    min_version_code: str = ""
    test_operation: bool = False
