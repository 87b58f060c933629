"""The fast path: one compiled expression per message type decides "certainly clean".

Built from the same tables as the exact checker (:mod:`sgb301.layouts`,
:mod:`sgb301.formats`, the mode's :class:`~sgb301.rules.RuleSet`): each segment becomes
its element formats joined by separators, trailing optional elements nested, value rules
as lookaheads; the message is the concatenation of its slots. A clean message is then
one ``fullmatch`` in C plus the IK check digits in Python.

The fast path only runs on messages without the release character (so raw bytes equal
values) and only ever says "clean"; on any mismatch the exact checker decides.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .delimiters import Delimiters
from .fields import Fields
from .formats import Format, fmt_pattern, resolve
from .ik import ik_valid
from .layouts import ANY, SEGMENTS, Element, Field, structure_for
from .message_types import MESSAGE_TYPES
from .model import MessageSpan
from .rules.base import RuleSet, ValueRule
from .tokenizer import unescape

__all__ = ["FastPath", "SegmentPattern", "canonical_framing", "segment_pattern"]

_TEXT_CHARS = set(range(0x20, 0x7F)) | set(range(0xA0, 0x100))

# Verdict fields read from single-occurrence segments: (tag, element) → attribute.
_CAPTURE = {
    ("FKT", 1): "processing",
    ("FKT", 2): "sequence",
    ("FKT", 3): "sender_ik",
    ("FKT", 4): "receiver_ik",
    ("INV", 6): "case",
    ("INV", 10): "unfalltag",
}


def _char_class(chars: set[int]) -> str:
    """A compact ``[...]`` class (ranges) for a set of byte values."""
    parts: list[str] = []
    ordered = sorted(chars)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        lo, hi = ordered[i], ordered[j]
        parts.append(f"\\x{lo:02x}" if lo == hi else f"\\x{lo:02x}-\\x{hi:02x}")
        i = j + 1
    return "[" + "".join(parts) + "]"


class _UnsupportedError(Exception):
    """This message type gets no fast pattern (the exact checker handles it)."""


class _Builder:
    def __init__(self, mtype: str, d: Delimiters, rules: RuleSet, released: bool,
                 breaks: bool = True) -> None:
        self.mtype, self.d, self.rules = mtype, d, rules
        # line breaks between segments; a message without any needs no test after each
        self.nl = "[\r\n]*+" if breaks else ""
        seps = {d.component[0], d.element[0], d.release[0], d.terminator[0]}
        self.service = "".join(chr(c) for c in seps)
        self.text = _char_class(_TEXT_CHARS - seps)
        if released:
            # A released service character counts as one character of the value.
            self.text = f"(?:{self.text}|{re.escape(d.release.decode('latin-1'))}"
            self.text += _char_class(seps) + ")"
        self.es = re.escape(d.element.decode("latin-1"))
        self.cs = re.escape(d.component.decode("latin-1"))
        self.ts = re.escape(d.terminator.decode("latin-1"))
        self.end = "[" + self.es + self.cs + self.ts + "]"
        self.iks: list[str] = []

    def _rules(self, tag: str, element: int, component: int) -> list[ValueRule]:
        return [
            r for r in self.rules.value_rules
            if r.tag == tag and r.element == element and r.component == component
            and (r.types is None or self.mtype in r.types)
        ]

    def field(
        self, tag: str, el: int, comp: int, f: Field, single: bool
    ) -> tuple[str, bool, bool]:
        """Pattern of one component, whether it must be filled when its element is
        present, and whether a rule demands it (which makes the element mandatory)."""
        fmt = resolve(f.fmt)
        p = fmt_pattern(fmt, self.d.decimal)
        if fmt.text:
            p = p.replace(r"[ -~\xa0-\xff]", self.text)
        rules = self._rules(tag, el, comp)
        look = "".join(
            (f"(?=(?:{r.allowed}){self.end})" if r.allowed is not None else "")
            + (f"(?!(?:{r.forbidden}){self.end})" if r.forbidden is not None else "")
            for r in rules
        )
        demanded = any(r.required for r in rules)
        required = f.mandatory or demanded
        if not required and any(r.allowed == "" for r in rules):
            return "", False, False  # must stay empty (e.g. 34U07)
        # a few allowed values spelled out, else the rules' lookaheads and the format
        values = _value_set(fmt, p, rules, self.service)
        body = values if values is not None else look + (f"(?:{p})" if "|" in p else p)
        name = _CAPTURE.get((tag, el)) if comp == 1 else None
        if f.fmt == "ik":
            if not single:
                raise _UnsupportedError
            name = name or f"ik{len(self.iks)}"
            self.iks.append(name)
        if name:
            if not single:
                raise _UnsupportedError
            body = f"(?P<{name}>{body})"
        return body, required, demanded

    def element(self, tag: str, i: int, el: Element, single: bool) -> tuple[str, bool]:
        comps = [self.field(tag, i, j, c, single) for j, c in enumerate(el.components, 1)]
        required = el.mandatory or any(demanded for _, _, demanded in comps)
        if len(comps) == 1:
            body = comps[0][0]
        else:
            parts = [b if r or not b else _optional(b) for b, r, _ in comps]
            body = _components(parts, [r for _, r, _ in comps], self.cs)
        return (body if required or not body else _optional(body)), required

    def segment(self, tag: str, single: bool) -> str:
        layout = SEGMENTS[tag]
        if layout.elements is None:
            raise _UnsupportedError
        parts = [self.element(tag, i, e, single) for i, e in enumerate(layout.elements, 1)]
        return re.escape(tag) + _elements([p for p, _ in parts], [r for _, r in parts], self.es)

    def message(self, locate: bool = False) -> re.Pattern[str]:
        """The message pattern of this type. With ``locate`` each segment may instead
        be one that only has its slot's tag (captured as ``b<slot>``, at most one per
        slot; repeated slots also count their segments in a lookahead), so one match
        also proves the structure of a message with a few bad values and says where
        they are (:meth:`FastPath.locate`)."""
        version = r"\d\d"
        if self.rules.min_version:
            tens, ones = divmod(self.rules.min_version, 10)
            version = f"(?:{tens}[{ones}-9]" + (f"|[{tens + 1}-9]\\d)" if tens < 9 else ")")
        rel, agency = (self.field("UNH", 2, k, c, True)[0]
                       for k, c in ((3, Field("", "an3", True)), (4, Field("", "an2", True))))
        out = [
            # the always-empty group: the index of a value the type does not capture
            "(?P<none>)UNH" + self.es + r"(?P<reference>\d{5})" + self.es
            + re.escape(self.mtype) + self.cs + f"(?P<version>{version})" + self.cs + rel
            + self.cs + agency + self.ts + self.nl
        ]
        for k, slot in enumerate(structure_for(self.mtype)[1:-1], 1):
            if slot.tag == ANY:
                raise _UnsupportedError
            single = slot.max == 1
            seg = "(?:" + self.segment(slot.tag, single) + self.ts + self.nl + ")"
            if locate:
                out.append(self._located_slot(k, slot.tag, seg, slot.min, slot.max))
            else:
                out.append(seg if slot.min == slot.max == 1 else f"{seg}{{{slot.min},{slot.max}}}+")
        out.append("UNT" + self.es + r"(?P<unt_count>\d{1,6}+)" + self.es + "(?P=reference)"
                   + self.ts)
        return re.compile("".join(out), re.ASCII)

    def _located_slot(self, k: int, tag: str, seg: str, lo: int, hi: int) -> str:
        """Slot ``k`` of a locating pattern: clean segments (``seg``) and at most one
        other segment with the slot's tag, whose span (terminator excluded) is group
        ``b<k>``."""
        t = re.escape(tag)
        after = f"(?=[{self.es}{self.cs}{self.ts}])"
        other = f"{t}{after}[^{self.ts}]*+"
        bad = f"(?P<b{k}>{other}){self.ts}{self.nl}"
        if hi == 1:
            # atomic: both ways end at the same terminator, and a later failure must
            # not retry every slot the other way (2^slots attempts)
            return f"(?>{seg}|{bad})" + ("" if lo == 1 else "?+")
        # the count is the structure walk's: lo..hi segments with the tag, and no more
        count = f"(?=(?:{other}{self.ts}{self.nl}){{{lo},{hi}}}+(?!{t}{after}))"
        return f"{count}{seg}*+(?:{bad}{seg}*+)?+(?!{t}{after})"


# A class repeated possessively from one character: left out, it is the same repeat
# from zero, which the engine runs in one loop instead of an optional group (that
# saves the groups captured so far on every try).
_FROM_ONE = re.compile(r"((?:\[[^\]]*\]|\\d)\{)1,(\d+\}\+)")


def _optional(body: str) -> str:
    r"""``body``, optional (possessive).

    >>> _optional(r"\d{1,3}+"), _optional(r"\d{2,2}+")
    ('\\d{0,3}+', '(?:\\d{2,2}+)?+')
    """
    m = _FROM_ONE.fullmatch(body)
    return f"{m.group(1)}0,{m.group(2)}" if m else f"(?:{body})?+"


def _tail(parts: list[str], sep: str) -> str:
    """Trailing optional parts: each may be left out together with everything after it."""
    out = ""
    for p in reversed(parts):
        out = f"(?:{sep}{p}{out})?+"
    return out


def _last_required(required: list[bool]) -> int:
    return max((i for i, r in enumerate(required) if r), default=-1)


def _components(parts: list[str], required: list[bool], sep: str) -> str:
    """Components of one element: the first unprefixed, the rest behind ``sep``."""
    last = max(_last_required(required), 0)
    return parts[0] + "".join(sep + p for p in parts[1 : last + 1]) + _tail(parts[last + 1 :], sep)


def _elements(parts: list[str], required: list[bool], sep: str) -> str:
    """Elements of one segment, each behind ``sep``; trailing optional ones may be omitted."""
    last = _last_required(required)
    return "".join(sep + p for p in parts[: last + 1]) + _tail(parts[last + 1 :], sep)


# Candidate values of a short format, to spell out what a rule allows in it.
_DIGITS = [str(n).zfill(k) for k in (1, 2, 3) for n in range(10**k)]
_ONE_CHAR = [chr(c) for c in range(256)]
_MAX_VALUES = 16  # beyond that an alternation is slower than a lookahead and the format


def _value_set(fmt: Format, pattern: str, rules: list[ValueRule], service: str
               ) -> str | None:
    r"""The values a component may hold, spelled out (``10|20|3[0-4]`` of a two-digit
    code becomes ``(?:10|20|30|31|32|33|34)``) where the rules allow a few literal
    values: one alternation instead of a lookahead per rule and the format's own test.
    None where the set is large or unknown (the lookaheads stay).

    The candidates are the allowed pattern itself when it is a literal, else every
    value of a numeric format of at most three digits or of a one-character format;
    each kept value matches the format, every ``allowed`` and no ``forbidden``, and
    holds no service character, so a value of the set is exactly a value the
    lookaheads would pass. Longest first: a value is always followed by a separator,
    so the first alternative that fits is the whole value.

    >>> _value_set(resolve("n2"), r"\d{2,2}+", [ValueRule("X", "FKT", 1, allowed="10|2[0-2]")],
    ...            "+:'?")
    '(?:10|20|21|22)'
    """
    allowed = [r.allowed for r in rules if r.allowed is not None]
    if not allowed or "" in allowed:
        return None
    if re.escape(allowed[0]) == allowed[0]:
        candidates = [allowed[0]]
    elif fmt.numeric and fmt.max_len <= 3:
        candidates = _DIGITS
    elif fmt.max_len == 1:
        candidates = _ONE_CHAR
    else:
        return None
    tests = [re.compile(pattern, re.ASCII).fullmatch,
             *(re.compile(a, re.ASCII).fullmatch for a in allowed)]
    banned = [re.compile(r.forbidden, re.ASCII).fullmatch for r in rules
              if r.forbidden is not None]
    values = [v for v in candidates
              if all(t(v) for t in tests) and not any(b(v) for b in banned)]
    if len(values) > _MAX_VALUES or any(c in service for v in values for c in v):
        return None
    if not values:
        return "(?!)"  # no value passes: never clean, as with the lookaheads
    values.sort(key=lambda v: (-len(v), v))
    return "(?:" + "|".join(re.escape(v) for v in values) + ")"


class SegmentPattern:
    """One segment layout of one message type as a compiled pattern (the same pieces
    as the message patterns), for the exact checker: a segment that ``fullmatch``es
    (its terminator included: value rules look ahead to the separator after a value)
    and whose IKs (groups named in ``iks``) pass :meth:`iks_valid` has no element,
    format or value-rule finding."""

    __slots__ = ("fullmatch", "iks")

    def __init__(self, pattern: re.Pattern[str], iks: list[str]) -> None:
        self.fullmatch = pattern.fullmatch
        self.iks = tuple(iks)

    def iks_valid(self, m: re.Match[str]) -> bool:
        """Every IK the match captured has its check digit right."""
        for name in self.iks:
            value = m.group(name)
            if value and not ik_valid(value):
                return False
        return True


def segment_pattern(mtype: str, tag: str, d: Delimiters, rules: RuleSet
                    ) -> SegmentPattern | None:
    """The pattern of segment ``tag`` in messages of ``mtype`` (no release characters),
    or None where there is none (unknown or excluded type, free layout)."""
    if mtype not in MESSAGE_TYPES or mtype in rules.excluded_types or tag not in SEGMENTS:
        return None
    try:
        b = _Builder(mtype, d, rules, False)
        return SegmentPattern(re.compile(b.segment(tag, True) + b.ts, re.ASCII), b.iks)
    except _UnsupportedError:
        return None


class _SegmentTable(dict[str, SegmentPattern | None]):
    """Segment patterns of one message type, compiled on first use."""

    def __init__(self, mtype: str, d: Delimiters, rules: RuleSet) -> None:
        super().__init__()
        self.mtype, self.d, self.rules = mtype, d, rules
        self.run = self._run()

    def _run(self) -> Callable[[str, int], re.Match[str] | None]:
        """``match(text, pos)`` of a pattern that consumes as many clean segments as
        follow ``pos`` — of the type's segment layouts without named groups (no IKs, no
        values the verdict reads) — and stops at the first other one: one C-level call
        for the long runs of clean segments of a message that failed as a whole."""
        pieces = []
        for slot in structure_for(self.mtype):
            if slot.tag in (ANY, "UNH", "UNT"):
                continue
            try:
                b = _Builder(self.mtype, self.d, self.rules, False)
                body = b.segment(slot.tag, True)
            except _UnsupportedError:
                continue
            if "(?P<" not in body and body not in pieces:
                pieces.append(body + b.ts)
        alternation = "|".join(f"(?:{p})" for p in pieces) or "(?!)"
        return re.compile(f"(?:{alternation})*+", re.ASCII).match

    def __missing__(self, tag: str) -> SegmentPattern | None:
        if len(self) > 256:  # tags come from the input: bound the table
            self.clear()
        pattern = self[tag] = segment_pattern(self.mtype, tag, self.d, self.rules)
        return pattern


class _Compiled:
    """A compiled message pattern and where its values are among ``m.groups("")``:
    one index per :class:`Fields` attribute it fills (the always-empty group ``none``
    for values the type does not capture), so a match becomes fields by plain stores."""

    __slots__ = ("attrs", "bad", "case", "fkt_group", "fullmatch", "ik_groups", "processing",
                 "receiver_ik", "reference", "sender_ik", "sequence", "type", "unfalltag",
                 "unt_count", "version")

    def __init__(self, mtype: str, pattern: re.Pattern[str], iks: list[str]) -> None:
        self.type = mtype
        self.fullmatch = pattern.fullmatch
        index = pattern.groupindex
        self.attrs = [a for a in _CAPTURE.values() if a in index]

        def at(name: str) -> int:  # 0-based, as in m.groups()
            return index.get(name, index["none"]) - 1

        self.processing, self.sequence = at("processing"), at("sequence")
        self.sender_ik, self.receiver_ik = at("sender_ik"), at("receiver_ik")
        self.case, self.unfalltag = at("case"), at("unfalltag")
        self.reference, self.version, self.unt_count = (
            at("reference"), at("version"), at("unt_count"))
        self.fkt_group = index["processing"]  # m.start(): 1-based
        self.ik_groups = tuple(at(name) for name in iks)
        # the locating pattern's b<slot> groups: segments that missed their layout
        self.bad = tuple(i for g, i in index.items() if g[0] == "b" and g[1:].isdigit())


# [variant][type] → pattern; the variants: plain messages (no release character, no
# line break), with line breaks, with release characters, and the locating pattern
_PLAIN, _BREAKS, _RELEASED, _LOCATE = 0, 1, 2, 3
_Table = list[dict[str, "_Compiled | None"]]
# UNT counts and UNH references as text, formatted once rather than per message
_CACHED = 1000
_NUMBERS = [str(n) for n in range(_CACHED)]
_REFERENCES = [f"{n:05d}" for n in range(_CACHED)]
_Seps = tuple[str, str, str]  # element, component, release as str


def canonical_framing(span: MessageSpan, unt_count: str, reference: str) -> bool:
    """The UNT count is the message's segment count without leading zeros and the
    UNH reference its number in the interchange as five digits: no Stufe-1 framing
    finding (other forms take the numeric comparison).

    >>> canonical_framing(MessageSpan(2, 0, 9, 4, True, False), "4", "00002")
    True
    """
    n, i = span.segments, span.index
    return unt_count == (_NUMBERS[n] if n < _CACHED else str(n)) and reference == (
        _REFERENCES[i] if i < _CACHED else f"{i:05d}")


class FastPath:
    """Compiled fast patterns for one rule set, built lazily per (type, delimiters).

    Patterns match ``str`` (the interchange decoded as ISO 8859-1 once), so captured
    values need no decoding; offsets are the same as in the bytes.
    """

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._tables: dict[Delimiters, _Table] = {}
        self._segments: dict[tuple[str, Delimiters], _SegmentTable] = {}
        # Almost every buffer uses the default delimiters: remember the last table by
        # identity, so the hot path never hashes a Delimiters struct.
        self._last: tuple[Delimiters, _Table, _Seps] | None = None

    def _table(self, d: Delimiters) -> tuple[Delimiters, _Table, _Seps]:
        seps = (d.element.decode("latin-1"), d.component.decode("latin-1"),
                d.release.decode("latin-1"))
        self._last = (d, self._tables.setdefault(d, [{}, {}, {}, {}]), seps)
        return self._last

    def segment(self, mtype: str, d: Delimiters) -> _SegmentTable:
        """Tag → :func:`segment_pattern` of ``mtype`` for this rule set, each compiled
        once (``mtype`` is a known message type: the checker asks for no other)."""
        key = (mtype, d)
        table = self._segments.get(key)
        if table is None:
            table = self._segments[key] = _SegmentTable(mtype, d, self.rules)
        return table

    def _build(self, mtype: str, d: Delimiters, variant: int) -> _Compiled | None:
        """The message (or locating) pattern of a known ``mtype``; None where it has none."""
        if mtype in self.rules.excluded_types:
            return None
        try:
            b = _Builder(mtype, d, self.rules, variant == _RELEASED, variant != _PLAIN)
            return _Compiled(mtype, b.message(variant == _LOCATE), b.iks)
        except _UnsupportedError:
            return None

    def _pattern(self, table: _Table, variant: int, mtype: str, d: Delimiters
                 ) -> _Compiled | None:
        """The pattern of ``(mtype, variant)`` in ``table`` (the one of ``d``), compiled
        and remembered on first use."""
        types = table[variant]
        c = types.get(mtype)  # one lookup for the usual, known type
        if c is None and mtype not in types and mtype in MESSAGE_TYPES:
            # unknown types are not remembered: the key comes from the input
            c = types[mtype] = self._build(mtype, d, variant)
        return c

    def match(self, text: str, span: MessageSpan, d: Delimiters, breaks: bool = True
              ) -> Fields | None:
        """Fields of a certainly-clean message (stage 1 to 3, minus Python predicates),
        or None if the exact checker has to look. ``text`` is the interchange decoded
        as ISO 8859-1; ``breaks=False`` says it holds no line break (a faster pattern;
        a wrong False only sends the messages with breaks to the exact checker)."""
        s, e = span.start, span.end
        last = self._last
        _, table, (es, cs, rel) = last if last is not None and last[0] is d else self._table(d)
        # UNH+nnnnn+TYPE: — the type sits at a fixed offset when the reference is n5.
        # Slices, not indexes: a short UNH at the end of the text has no byte s + 9.
        if text[s + 9 : s + 10] != es or text[s + 14 : s + 15] != cs:
            return None
        variant = _RELEASED if span.released else _BREAKS if breaks else _PLAIN
        c = self._pattern(table, variant, text[s + 10 : s + 14], d)
        if c is None:
            return None
        m = c.fullmatch(text, s, e)
        if m is None:
            return None
        groups = m.groups("")  # one call; group i is groups[i - 1]
        # Canonical forms only; "010" or a reference out of sequence go to the checker.
        if not canonical_framing(span, groups[c.unt_count], groups[c.reference]):
            return None
        for i in c.ik_groups:
            value = groups[i]
            if value and not ik_valid(value):
                return None
        f = _fields(c, groups)
        if span.released:
            for a in c.attrs:
                value = getattr(f, a)
                if rel in value:
                    setattr(f, a, unescape(value.encode("latin-1"), d).decode("latin-1"))
        f.fkt_offset = m.start(c.fkt_group) - 4  # "FKT+" precedes element 1
        return f

    def locate(self, text: str, span: MessageSpan, d: Delimiters
               ) -> tuple[Fields, list[tuple[int, int]]] | None:
        """For a message :meth:`match` refused: its fields and the spans (terminator
        excluded) of the segments that may hold a finding, or None if the exact checker
        has to walk it.

        A result means one match of the type's locating pattern: UNH, UNT and the
        structure are right and every other segment matched its layout pattern, so
        only the returned segments — at most one per slot, plus those whose IK check
        digit is wrong — need an element-by-element check
        (:func:`sgb301.checker.check_segments`), which also reads their values into the
        fields. A message with one bad value, the usual rejected message, then costs
        one more regex call and that one segment.
        """
        if span.released or not span.complete:
            return None
        s = span.start
        last = self._last
        _, table, _ = last if last is not None and last[0] is d else self._table(d)
        c = self._pattern(table, _LOCATE, text[s + 10 : s + 14], d)
        if c is None:
            return None
        m = c.fullmatch(text, s, span.end)
        if m is None:
            return None
        groups, regs = m.groups(""), m.regs  # every group in one call each
        suspects = [regs[i] for i in c.bad if regs[i][0] >= 0]
        for i in c.ik_groups:
            value = groups[i]
            if value and not ik_valid(value):
                suspects.append(_segment_at(text, s, regs[i + 1][0], d))
        f = _fields(c, groups)
        at = regs[c.fkt_group][0]
        if at >= 0:
            f.fkt_offset = at - 4  # "FKT+" precedes element 1
        f.unt_offset = regs[c.unt_count + 1][0] - 4
        return f, suspects


def _fields(c: _Compiled, groups: tuple[str, ...]) -> Fields:
    """The fields of a match of ``c``'s pattern, from its groups (``m.groups("")``)."""
    f = Fields()
    f.type = c.type
    f.version = groups[c.version]
    f.reference = f.unt_reference = groups[c.reference]
    f.processing = groups[c.processing]
    f.sequence = groups[c.sequence]
    f.sender_ik = groups[c.sender_ik]
    f.receiver_ik = groups[c.receiver_ik]
    f.case = groups[c.case]
    f.unfalltag = groups[c.unfalltag]
    f.unt_count = groups[c.unt_count]
    f.complete_unt = True
    return f


def _segment_at(text: str, start: int, at: int, d: Delimiters) -> tuple[int, int]:
    """The span (terminator excluded) of the segment holding ``text[at]``, in a message
    from ``start`` without release characters."""
    term = d.terminator.decode("latin-1")
    begin = text.rfind(term, start, at) + 1
    while text[begin] in "\r\n":
        begin += 1
    return begin, text.find(term, at)
