"""The exact checker: every Prüfstufe-2/3 finding of one message, with its position.

This is the authority on a verdict. The fast path (:mod:`sgb301.fastpath`) only
decides "certainly clean" for the common case; anything else comes here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Protocol

from .catalogue import text_for
from .delimiters import Delimiters
from .fields import Fields
from .formats import Format, fmt_pattern, resolve
from .ik import ik_valid
from .layouts import ANY, SEGMENTS, SegmentLayout, Slot, structure_for
from .message_types import MESSAGE_TYPES
from .model import Violation
from .rules.base import RuleSet
from .tokenizer import as_number, misplaced_release, segment_spans, split_elements, unescape

__all__ = ["Fields", "SegmentPatterns", "check_message", "check_segments", "is_number"]


class _Clean(Protocol):
    iks: tuple[str, ...]

    def fullmatch(self, text: str, start: int, end: int) -> re.Match[str] | None: ...

    def iks_valid(self, m: re.Match[str]) -> bool: ...


class _Table(Protocol):
    run: Callable[[str, int], re.Match[str] | None]

    def __getitem__(self, tag: str) -> _Clean | None: ...


#: (message type, delimiters) → segment tag → its compiled pattern (or None).
SegmentPatterns = Callable[[str, Delimiters], _Table]


def _v(code: str, tag: str, number: int, element: int, offset: int, component: int = 0,
       **fmt: str) -> Violation:
    return Violation(code, int(code[0]), tag, number, element, text_for(code, **fmt),
                     component=component, offset=offset)


@cache
def _matcher(fmt: Format, decimal: bytes) -> re.Pattern[str]:
    return re.compile(fmt_pattern(fmt, decimal), re.ASCII)


@cache
def _rule_re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.ASCII)


_FieldCheck = Callable[[str], "str | None"]


@cache
def _field_check(fmt_name: str, decimal: bytes) -> _FieldCheck:
    """The check of a non-empty value against format ``fmt_name``: its error code, or
    None when the value is right."""
    fmt = resolve(fmt_name)
    lo, hi = fmt.min_len, fmt.max_len
    full = _matcher(fmt, decimal).fullmatch
    if fmt.text:
        def text(value: str) -> str | None:
            if full(value):
                return None
            return "3SW21" if not lo <= len(value) <= hi else "3SW26"
        return text
    if fmt.numeric:
        def numeric(value: str) -> str | None:
            if not is_number(value):
                return "3SW20"
            return None if lo <= len(value) <= hi else "3SW21"
        return numeric
    code, ik = fmt.code, fmt_name == "ik"

    def pattern(value: str) -> str | None:
        if not full(value):
            return code
        return "3SW24" if ik and not ik_valid(value) else None
    return pattern


#: One element of a layout as the element-wise check walks it: its number, whether it
#: is mandatory, how many components it may have, whether it is a composite, and per
#: component (number, mandatory, check).
_ElementPlan = tuple[int, bool, int, bool, tuple[tuple[int, bool, _FieldCheck], ...]]


@cache
def _plan(tag: str, decimal: bytes) -> tuple[_ElementPlan, ...]:
    """The element checks of segment ``tag``, resolved once per decimal mark."""
    layout = SEGMENTS[tag].elements
    assert layout is not None
    return tuple(
        (i, spec.mandatory, len(spec.components), len(spec.components) > 1,
         tuple((j, f.mandatory, _field_check(f.fmt, decimal))
               for j, f in enumerate(spec.components, start=1)))
        for i, spec in enumerate(layout, start=1))


def _check_elements(tag: str, number: int, offset: int, els: list[list[str]],
                    d: Delimiters, out: list[Violation]) -> None:
    plan = _plan(tag, d.decimal)
    last = len(els) - 1
    if last > len(plan):
        out.append(_v("2SW05", tag, number, len(plan) + 1, offset))
    for i, mandatory, most, composite, fields in plan:
        comps = els[i] if i <= last else _NONE
        if len(comps) > most:
            out.append(_v("2SW06", tag, number, i, offset, most + 1))
        if not any(comps):
            if mandatory:
                out.append(_v("2SW07", tag, number, i, offset, 1 if composite else 0))
            continue
        count = len(comps)
        for j, required, check in fields:
            value = comps[j - 1] if j <= count else ""
            if not value:
                if required:
                    out.append(_v("2SW07", tag, number, i, offset, j if composite else 0))
                continue
            code = check(value)
            if code:
                out.append(_v(code, tag, number, i, offset, j if composite else 0))


_NONE: list[str] = []  # an element that is not there (never appended to)


#: A value rule ready to run: types (None = all), element, component, required,
#: fullmatch of the allowed and of the forbidden pattern (None = no such pattern), code.
_Rule = tuple[frozenset[str] | None, int, int, bool, Callable[[str], object] | None,
              Callable[[str], object] | None, str]


def _check_rules(
    mtype: str, tag: str, number: int, offset: int, els: list[list[str]],
    rules: tuple[_Rule, ...], out: list[Violation],
) -> None:
    count = len(els)
    for types, element, component, required, allowed, forbidden, code in rules:
        if types is not None and mtype not in types:
            continue
        comps = els[element] if element < count else _NONE
        value = comps[component - 1] if component <= len(comps) else ""
        if value:
            if (allowed is None or allowed(value)) and (forbidden is None
                                                        or not forbidden(value)):
                continue
        elif not required:
            continue
        out.append(_v(code, tag, number, element, offset, component if len(comps) > 1 else 0))


def _rules_by_tag(rules: RuleSet) -> dict[str, tuple[_Rule, ...]]:
    by: dict[str, list[_Rule]] = {}
    for r in rules.value_rules:
        by.setdefault(r.tag, []).append((
            r.types, r.element, r.component, r.required,
            None if r.allowed is None else _rule_re(r.allowed).fullmatch,
            None if r.forbidden is None else _rule_re(r.forbidden).fullmatch, r.code))
    return {k: tuple(v) for k, v in by.items()}


_RULES_BY_TAG: dict[str, dict[str, tuple[_Rule, ...]]] = {}


def _decode(els: list[list[bytes]], d: Delimiters) -> list[list[str]]:
    return [[unescape(c, d).decode("latin-1") for c in e] for e in els]


def _elements(buf: bytes, start: int, end: int, d: Delimiters, released: bool
              ) -> list[list[str]]:
    """The decoded elements and components of the segment ``buf[start:end]``; without
    release characters in the message two C-level splits do it."""
    if released:
        return _decode(split_elements(buf, start, end, d), d)
    text = buf[start:end].decode("latin-1")
    cs = d.component.decode("latin-1")
    return [e.split(cs) for e in text.split(d.element.decode("latin-1"))]


#: Values :func:`_collect` reads, by tag: (Fields attribute, pattern group) — taken
#: from the match of a clean segment; UNT is decoded.
_GROUPS = {"FKT": (("processing", "processing"), ("sequence", "sequence"),
                   ("sender_ik", "sender_ik"), ("receiver_ik", "receiver_ik")),
           "INV": (("case", "case"), ("unfalltag", "unfalltag"))}


def _by_tag(rules: RuleSet) -> dict[str, tuple[_Rule, ...]]:
    by_tag = _RULES_BY_TAG.get(rules.name)
    if by_tag is None:
        by_tag = _RULES_BY_TAG[rules.name] = _rules_by_tag(rules)
    return by_tag


def check_segments(buf: bytes, start: int, suspects: list[tuple[int, int]], d: Delimiters,
                   rules: RuleSet, f: Fields) -> list[Violation]:
    """The findings of a message at ``start`` whose envelope, structure and other
    segments are known to be clean (:meth:`sgb301.fastpath.FastPath.locate`): each
    segment ``buf[a:b]`` of ``suspects`` is checked element by element, and the values
    the verdict reads from it go into ``f``. The message holds no release character.
    """
    out: list[Violation] = []
    by_tag = _by_tag(rules)
    term = d.terminator
    for a, b in sorted(set(suspects)):
        number = buf.count(term, start, a) + 1
        els = _elements(buf, a, b, d, False)
        tag = els[0][0]
        _check_segment(tag, number, a, els, SEGMENTS.get(tag), d, by_tag.get(tag, ()),
                       f.type, out)
        _read(tag, number, a, els, None, f)
    return out


def check_message(
    buf: bytes, start: int, end: int, d: Delimiters, rules: RuleSet,
    segment_patterns: SegmentPatterns | None = None,
) -> tuple[list[Violation], Fields]:
    """All stage-2/3 findings of the message ``buf[start:end]`` plus the values read.

    Stage-1 message checks (UNT count and reference, sequence) are left to the caller,
    which knows the interchange; this function fills ``Fields.unt_*`` for them.

    ``segment_patterns`` (the validator passes its fast path's) gives the compiled
    pattern of a segment layout: a segment that matches it has no element, format or
    value-rule finding, so only the segments that do not are decoded and checked
    element by element. A rejected message — usually one bad value — then costs little
    more than an accepted one. Without it every segment is checked element by element
    (the reference the tests compare with).
    """
    out: list[Violation] = []
    f = Fields()
    by_tag = _by_tag(rules)
    spans = segment_spans(buf, start, end, d)
    released = buf.find(d.release, start, end) >= 0
    # ---- UNH: type and version decide structure and rules --------------------------
    unh = _elements(buf, spans[0][0], spans[0][1], d, released) if spans else [[""]]
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
    slots = structure_for(f.type)
    # ---- the shortcut: which segments match their layout pattern ---------------------
    n = len(spans)
    clean: list[re.Match[str] | bool | None] = [None] * n
    tags: list[str] = [""] * n
    structure_ok = False
    if segment_patterns is not None and known and not released and n > 2:
        table = segment_patterns(f.type, d)
        text = buf[start:end].decode("latin-1")
        seps = (d.element.decode("latin-1"), d.component.decode("latin-1"))
        term = d.terminator.decode("latin-1")
        run = table.run
        k = 0
        while k < n:
            a, b = spans[k]
            a, b = a - start, b - start
            if a + 3 < b and text[a + 3] not in seps:
                break  # not a three-letter tag: the walk below says what it is
            tag = tags[k] = text[a : a + 3]
            if k and tag != "UNT":
                # a run of clean segments from here: one regex call for all of them
                stop = run(text, a)
                consumed = text.count(term, a, stop.end()) if stop is not None else 0
                if consumed:
                    clean[k : k + consumed] = [True] * consumed
                    k += consumed
                    continue
            pattern = table[tag]
            if pattern is not None:
                hit = pattern.fullmatch(text, a, b + 1)  # with the terminator
                if hit is not None and (not pattern.iks or pattern.iks_valid(hit)):
                    clean[k] = hit
            k += 1
        else:
            structure_ok = _structure_re(f.type, d).fullmatch(text) is not None
    if structure_ok:
        # the usual rejected message: one bad value, every segment in its place — only
        # the segments that missed their pattern are checked element by element
        _check_dirty(buf, spans, tags, clean, unh, d, f, by_tag, out)
        return out, f

    # ---- structure: order, mandatory segments, repetitions -------------------------
    at, reps = 0, 0
    for number, (offset, seg_end) in enumerate(spans, start=1):
        k = number - 1
        els: list[list[str]] | None = unh if k == 0 else None
        m = clean[k]
        if els is None and (m is None or tags[k] == "UNT"):
            els = _elements(buf, offset, seg_end, d, released)
        # a segment consumed by a run of clean ones has no tag noted yet
        tag = els[0][0] if els is not None else (tags[k] or buf[offset : offset + 3].decode(
            "latin-1"))
        layout = SEGMENTS.get(tag)
        at, reps = _walk_structure(slots, at, reps, tag, layout, number, offset, out)
        if m is None:
            assert els is not None
            if released:
                _check_release(buf, spans[k], tag, number, els, d, out)
            _check_segment(tag, number, offset, els, layout, d,
                           by_tag.get(tag, ()) if known else (), f.type, out)
        _read(tag, number, offset, els, m, f)
    last = tag if spans else ""
    tail = slots[at + 1 :] if last == "UNT" or at + 1 < len(slots) else ()
    if spans and slots[at].min > reps:
        out.append(_v("2SW02", slots[at].tag, len(spans), 0, start))
    for slot in tail:
        if slot.min > 0 and slot.tag != "UNT":
            out.append(_v("2SW02", slot.tag, len(spans), 0, start))
    return out, f


def _check_dirty(buf: bytes, spans: list[tuple[int, int]], tags: list[str],
                 clean: list[re.Match[str] | bool | None], unh: list[list[str]],
                 d: Delimiters,
                 f: Fields, by_tag: dict[str, tuple[_Rule, ...]],
                 out: list[Violation]) -> None:
    """Element checks of the segments without a match, and the values the verdict
    reads, for a message whose structure is known to be right (each of FKT, INV, UNT
    at most once)."""
    todo = {tags.index(t) for t in _READ if t in tags}  # each at most once here
    k = -1
    while True:  # the segments without a match, found at C level
        try:
            k = clean.index(None, k + 1)
        except ValueError:
            break
        todo.add(k)
    for k in sorted(todo):
        m, tag = clean[k], tags[k]
        number, (offset, seg_end) = k + 1, spans[k]
        els = unh if k == 0 else None
        if m is None or tag == "UNT":
            if els is None:
                els = _elements(buf, offset, seg_end, d, False)
            if m is None:
                _check_segment(tag, number, offset, els, SEGMENTS[tag], d,
                               by_tag.get(tag, ()), f.type, out)
        _read(tag, number, offset, els, m, f)


def _check_segment(tag: str, number: int, offset: int, els: list[list[str]],
                   layout: SegmentLayout | None, d: Delimiters,
                   rules: tuple[_Rule, ...], mtype: str, out: list[Violation]) -> None:
    """Element, format and value-rule findings of one segment."""
    if tag == "UNH":
        _check_unh(els, offset, d, out)
    elif layout is not None and layout.elements is not None:
        _check_elements(tag, number, offset, els, d, out)
    if rules:
        _check_rules(mtype, tag, number, offset, els, rules, out)


def _read(tag: str, number: int, offset: int, els: list[list[str]] | None,
          m: re.Match[str] | bool | None, f: Fields) -> None:
    """Positions and values the verdict reads: from the decoded elements, or from the
    groups of a clean segment's match."""
    if tag == "FKT":
        f.fkt_number, f.fkt_offset = number, offset
    elif tag == "UNT":
        f.unt_offset = offset
    if els is not None:
        _collect(tag, els, f)
    elif tag in _GROUPS:
        assert isinstance(m, re.Match)
        for attr, group in _GROUPS[tag]:
            setattr(f, attr, m.group(group) or "")


#: Tags whose values the verdict reads (see :func:`_collect`).
_READ = frozenset(("FKT", "INV", "UNT"))


def _walk_structure(slots: tuple[Slot, ...], at: int, reps: int, tag: str,
                    layout: SegmentLayout | None, number: int, offset: int,
                    out: list[Violation]) -> tuple[int, int]:
    """One step of the structure walk: ``tag`` at the current slot or a later one;
    findings for too many repetitions, skipped mandatory slots, misplaced segments."""
    slot = slots[at]
    if tag == slot.tag or (slot.tag == ANY and layout is not None and not tag.startswith("UN")):
        reps += 1
        if reps > slot.max:
            out.append(_v("2SW04", tag, number, 0, offset))
        return at, reps
    target = next((j for j in range(at + 1, len(slots)) if slots[j].tag == tag or (
        slots[j].tag == ANY and layout is not None and not tag.startswith("UN"))), -1)
    if target < 0:
        out.append(_v("2SW01" if layout is None else "2SW03", tag, number, 0, offset))
        return at, reps
    if reps < slot.min:
        out.append(_v("2SW02", slot.tag, number, 0, offset))
    for skipped in slots[at + 1 : target]:
        if skipped.min > 0:
            out.append(_v("2SW02", skipped.tag, number, 0, offset))
    return target, 1


@cache
def _structure_re(mtype: str, d: Delimiters) -> re.Pattern[str]:
    """A message text (no release characters, no line breaks) whose segments come in
    an order the structure walk accepts without a finding: each slot's tag repeated
    within its bounds and not once more (the walk would stay on the slot and count too
    many), mandatory slots present. A match proves "no structure finding"; anything
    else takes the walk."""
    es, cs, ts = (re.escape(x.decode("latin-1")) for x in (d.element, d.component,
                                                            d.terminator))
    rest = f"(?:[{es}{cs}][^{ts}]*)?{ts}"  # the rest of a segment after its tag
    known = "|".join(sorted(t for t in SEGMENTS if not t.startswith("UN")))
    parts = []
    for slot in structure_for(mtype):
        tag = f"(?:{known})" if slot.tag == ANY else re.escape(slot.tag)
        parts.append(f"(?:{tag}{rest}){{{slot.min},{slot.max}}}+(?!{tag}[{es}{cs}{ts}])")
    return re.compile("".join(parts), re.ASCII)


def is_number(value: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts ISO 8859-1 superscripts)."""
    return value.isascii() and value.isdigit()


def _check_unh(els: list[list[str]], offset: int, d: Delimiters, out: list[Violation]) -> None:
    ident = els[2] if len(els) > 2 else []
    if len(ident) < 4 or not all(ident[:4]):
        out.append(_v("2SW16", "UNH", 1, 2, offset))
        return
    _check_elements("UNH", 1, offset, els, d, out)


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
