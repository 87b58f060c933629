"""The fast path's spelled-out value sets are exactly what the rules and formats allow.

Where a component's rules allow a few values, the fast path matches an alternation of
them instead of the rules' lookaheads and the format (``sgb301.fastpath._value_set``).
Here every such component of every message type in both modes is tried with every
candidate the set could miss or wrongly take: all values of up to three digits, every
ISO 8859-1 character, the literal values, and those with a character more or less.
"""

from __future__ import annotations

import re

import pytest

from sgb301.delimiters import DEFAULT
from sgb301.fastpath import _Builder, _value_set
from sgb301.formats import fmt_pattern, resolve
from sgb301.layouts import SEGMENTS, structure_for
from sgb301.message_types import MESSAGE_TYPES
from sgb301.rules import rule_set
from sgb301.rules.base import ValueRule

_SERVICE = "+:'?"
_CANDIDATES = sorted(
    {str(n).zfill(k) for k in (1, 2, 3, 4) for n in range(10**k)}
    | {chr(c) for c in range(256)}
    | {"", "EUR", "EURO", "EU", "000", "0000", "00", "0", "1", "11", "mm", "x"}
)


def _components() -> list[tuple[str, str, str, int, int, str, str, list[ValueRule]]]:
    """(mode, type, tag, element, component, format, its pattern, rules) of every
    component with a value set."""
    out = []
    for mode in ("uv", "gkv"):
        rules = rule_set(mode)
        for mtype in MESSAGE_TYPES:
            b = _Builder(mtype, DEFAULT, rules, False)
            for tag in {slot.tag for slot in structure_for(mtype)} & set(SEGMENTS):
                layout = SEGMENTS[tag].elements or ()
                for el, element in enumerate(layout, 1):
                    for comp, f in enumerate(element.components, 1):
                        rs = b._rules(tag, el, comp)
                        fmt = resolve(f.fmt)
                        pattern = fmt_pattern(fmt, DEFAULT.decimal).replace(
                            r"[ -~\xa0-\xff]", b.text)
                        if _value_set(fmt, pattern, rs, _SERVICE) is not None:
                            out.append((mode, mtype, tag, el, comp, f.fmt, pattern, rs))
    return out


COMPONENTS = _components()


def test_value_sets_are_in_use() -> None:
    # FKT processing codes, the sex code, UNH's release and agency, currency, ...
    spots = {(tag, el, comp) for _, _, tag, el, comp, _, _, _ in COMPONENTS}
    assert {("FKT", 1, 1), ("NAD", 3, 1), ("UNH", 2, 3), ("UNH", 2, 4)} <= spots


@pytest.mark.parametrize(("mode", "mtype", "tag", "el", "comp", "fmt_name", "pattern",
                          "rules"),
                         COMPONENTS, ids=lambda x: x if isinstance(x, str | int) else "")
def test_value_set_is_what_the_lookaheads_allow(mode, mtype, tag, el, comp, fmt_name,
                                                pattern, rules) -> None:
    fmt = resolve(fmt_name)
    spelled = re.compile(_value_set(fmt, pattern, rules, _SERVICE), re.ASCII)
    format_ok = re.compile(pattern, re.ASCII)
    for value in _CANDIDATES:
        lookaheads = (
            bool(format_ok.fullmatch(value))
            and all(re.fullmatch(r.allowed, value, re.ASCII) for r in rules
                    if r.allowed is not None)
            and not any(re.fullmatch(r.forbidden, value, re.ASCII) for r in rules
                        if r.forbidden is not None)
        )
        assert bool(spelled.fullmatch(value)) == lookaheads, (mode, mtype, tag, el, value)
