"""The exact checker: every Prüfstufe-2/3 finding of one message, with its position.

This is the authority on a verdict. The fast path (:mod:`sgb301.fastpath`) only
decides "certainly clean" for the common case; anything else comes here.
"""

from __future__ import annotations

import re
from functools import cache

from .catalogue import text_for
from .delimiters import Delimiters
from .formats import Format, fmt_pattern, resolve
from .ik import ik_valid
from .layouts import ANY, SEGMENTS, Element, structure_for
from .message_types import MESSAGE_TYPES
from .model import Violation
from .rules.base import RuleSet, ValueRule
from .tokenizer import as_number, iter_segments, misplaced_release, split_elements, unescape

__all__ = ["Fields", "check_message", "is_number"]


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


def _v(code: str, tag: str, number: int, element: int, offset: int, component: int = 0,
       **fmt: str) -> Violation:
    return Violation(code, int(code[0]), tag, number, element, text_for(code, **fmt),
                     component=component, offset=offset)


@cache
def _matcher(fmt: Format, decimal: bytes) -> re.Pattern[str]:
    return re.compile(fmt_pattern(fmt, decimal))


@cache
def _rule_re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _check_field(value: str, fmt_name: str, d: Delimiters) -> str | None:
    """Error code for a non-empty value that breaks its format, else None."""
    fmt = resolve(fmt_name)
    if fmt.text:
        if _matcher(fmt, d.decimal).fullmatch(value):
            return None
        return "3SW21" if not fmt.min_len <= len(value) <= fmt.max_len else "3SW26"
    if fmt.numeric:
        if not is_number(value):
            return "3SW20"
        return None if fmt.min_len <= len(value) <= fmt.max_len else "3SW21"
    if not _matcher(fmt, d.decimal).fullmatch(value):
        return fmt.code
    if fmt_name == "ik" and not ik_valid(value):
        return "3SW24"
    return None


def _check_elements(
    tag: str, number: int, offset: int, els: list[list[str]], layout: tuple[Element, ...],
    d: Delimiters, out: list[Violation],
) -> None:
    if len(els) - 1 > len(layout):
        out.append(_v("2SW05", tag, number, len(layout) + 1, offset))
    for i, spec in enumerate(layout, start=1):
        comps = els[i] if i < len(els) else []
        present = any(comps)
        if len(comps) > len(spec.components):
            out.append(_v("2SW06", tag, number, i, offset, len(spec.components) + 1))
        if not present:
            if spec.mandatory:
                out.append(_v("2SW07", tag, number, i, offset, 1 if len(spec.components) > 1
                              else 0))
            continue
        composite = len(spec.components) > 1
        for j, field in enumerate(spec.components, start=1):
            value = comps[j - 1] if j - 1 < len(comps) else ""
            if not value:
                if field.mandatory:
                    out.append(_v("2SW07", tag, number, i, offset, j if composite else 0))
                continue
            code = _check_field(value, field.fmt, d)
            if code:
                out.append(_v(code, tag, number, i, offset, j if composite else 0))


def _check_rules(
    mtype: str, tag: str, number: int, offset: int, els: list[list[str]],
    rules: tuple[ValueRule, ...], out: list[Violation],
) -> None:
    for rule in rules:
        if rule.types is not None and mtype not in rule.types:
            continue
        comps = els[rule.element] if rule.element < len(els) else []
        value = comps[rule.component - 1] if rule.component - 1 < len(comps) else ""
        where = (rule.code, tag, number, rule.element, offset,
                 rule.component if len(comps) > 1 else 0)
        if not value:
            if rule.required:
                out.append(_v(*where))
            continue
        if (rule.allowed is not None and not _rule_re(rule.allowed).fullmatch(value)) or (
            rule.forbidden is not None and _rule_re(rule.forbidden).fullmatch(value)
        ):
            out.append(_v(*where))


def _rules_by_tag(rules: RuleSet) -> dict[str, tuple[ValueRule, ...]]:
    by: dict[str, list[ValueRule]] = {}
    for r in rules.value_rules:
        by.setdefault(r.tag, []).append(r)
    return {k: tuple(v) for k, v in by.items()}


_RULES_BY_TAG: dict[str, dict[str, tuple[ValueRule, ...]]] = {}


def _decode(els: list[list[bytes]], d: Delimiters) -> list[list[str]]:
    return [[unescape(c, d).decode("latin-1") for c in e] for e in els]


def check_message(
    buf: bytes, start: int, end: int, d: Delimiters, rules: RuleSet,
) -> tuple[list[Violation], Fields]:
    """All stage-2/3 findings of the message ``buf[start:end]`` plus the values read.

    Stage-1 message checks (UNT count and reference, sequence) are left to the caller,
    which knows the interchange; this function fills ``Fields.unt_*`` for them.
    """
    out: list[Violation] = []
    f = Fields()
    by_tag = _RULES_BY_TAG.get(rules.name)
    if by_tag is None:
        by_tag = _RULES_BY_TAG[rules.name] = _rules_by_tag(rules)
    spans = list(iter_segments(buf, start, end, d))
    segments = [(s, _decode(split_elements(buf, s, e, d), d)) for s, e in spans]
    released = buf.find(d.release, start, end) >= 0
    # ---- UNH: type and version decide structure and rules --------------------------
    unh = segments[0][1] if segments else [[""]]
    f.reference = unh[1][0] if len(unh) > 1 else ""
    ident = unh[2] if len(unh) > 2 else []
    f.type = ident[0] if ident else ""
    f.version = ident[1] if len(ident) > 1 else ""
    known = f.type in MESSAGE_TYPES
    if not known:
        out.append(_v("2SW14", "UNH", 1, 2, start, 1))
    elif f.type in rules.excluded_types:
        out.append(_v(rules.excluded_types[f.type], "UNH", 1, 2, start, 1))
    version = as_number(f.version)
    if rules.min_version and (version is None or version < rules.min_version):
        out.append(_v(rules.min_version_code, "UNH", 1, 2, start, 2))

    # ---- structure: order, mandatory segments, repetitions -------------------------
    slots = structure_for(f.type)
    at, reps = 0, 0
    for number, (offset, els) in enumerate(segments, start=1):
        tag = els[0][0]
        layout = SEGMENTS.get(tag)
        slot = slots[at]
        fits = tag == slot.tag or (slot.tag == ANY and layout is not None and not
                                   tag.startswith("UN"))
        if fits:
            reps += 1
            if reps > slot.max:
                out.append(_v("2SW04", tag, number, 0, offset))
        else:
            target = next((j for j in range(at + 1, len(slots)) if slots[j].tag == tag or (
                slots[j].tag == ANY and layout is not None and not tag.startswith("UN"))), -1)
            if target < 0:
                out.append(_v("2SW01" if layout is None else "2SW03", tag, number, 0, offset))
            else:
                if reps < slot.min:
                    out.append(_v("2SW02", slot.tag, number, 0, offset))
                for skipped in slots[at + 1 : target]:
                    if skipped.min > 0:
                        out.append(_v("2SW02", skipped.tag, number, 0, offset))
                at, reps = target, 1
        if released:
            _check_release(buf, spans[number - 1], tag, number, els, d, out)
        if layout is not None and layout.elements is not None and tag != "UNH":
            _check_elements(tag, number, offset, els, layout.elements, d, out)
        elif tag == "UNH":
            _check_unh(els, offset, d, out)
        if tag in by_tag and known:
            _check_rules(f.type, tag, number, offset, els, by_tag[tag], out)
        if tag == "FKT":
            f.fkt_number, f.fkt_offset = number, offset
        elif tag == "UNT":
            f.unt_offset = offset
        _collect(tag, els, f)
    last = segments[-1][1][0][0] if segments else ""
    tail = slots[at + 1 :] if last == "UNT" or at + 1 < len(slots) else ()
    if segments and slots[at].min > reps:
        out.append(_v("2SW02", slots[at].tag, len(segments), 0, start))
    for slot in tail:
        if slot.min > 0 and slot.tag != "UNT":
            out.append(_v("2SW02", slot.tag, len(segments), 0, start))
    return out, f


def is_number(value: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts ISO 8859-1 superscripts)."""
    return value.isascii() and value.isdigit()


def _check_unh(els: list[list[str]], offset: int, d: Delimiters, out: list[Violation]) -> None:
    layout = SEGMENTS["UNH"].elements
    assert layout is not None
    ident = els[2] if len(els) > 2 else []
    if len(ident) < 4 or not all(ident[:4]):
        out.append(_v("2SW16", "UNH", 1, 2, offset))
        return
    _check_elements("UNH", 1, offset, els, layout, d, out)


def _check_release(
    buf: bytes, span: tuple[int, int], tag: str, number: int, els: list[list[str]],
    d: Delimiters, out: list[Violation],
) -> None:
    """2SW18: a release character before an ordinary character (a syntax error)."""
    where = misplaced_release(buf, span[0], span[1], d)
    if where is not None:
        element, component = where
        composite = element < len(els) and len(els[element]) > 1
        out.append(_v("2SW18", tag, number, element, span[0], component if composite else 0))


def _collect(tag: str, els: list[list[str]], f: Fields) -> None:
    def get(i: int) -> str:
        return els[i][0] if i < len(els) and els[i] else ""

    if tag == "FKT":
        f.processing, f.sequence, f.sender_ik, f.receiver_ik = get(1), get(2), get(3), get(4)
    elif tag == "INV":
        f.case, f.unfalltag = get(6), get(10)
    elif tag == "UNT":
        f.unt_count, f.unt_reference, f.complete_unt = get(1), get(2), True
