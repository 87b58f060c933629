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

from .checker import Fields
from .delimiters import Delimiters
from .formats import fmt_pattern, resolve
from .ik import ik_valid
from .layouts import ANY, SEGMENTS, Element, Field, structure_for
from .message_types import MESSAGE_TYPES
from .model import MessageSpan
from .rules.base import RuleSet, ValueRule

__all__ = ["FastPath"]

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
    def __init__(self, mtype: str, d: Delimiters, rules: RuleSet) -> None:
        self.mtype, self.d, self.rules = mtype, d, rules
        seps = {d.component[0], d.element[0], d.release[0], d.terminator[0]}
        self.text = _char_class(_TEXT_CHARS - seps)
        self.es = re.escape(d.element.decode("latin-1"))
        self.cs = re.escape(d.component.decode("latin-1"))
        self.ts = re.escape(d.terminator.decode("latin-1"))
        self.end = "[" + self.es + self.cs + self.ts + "]"
        self.iks: list[str] = []
        self.captures: dict[str, str] = {}

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
        body = look + "(?:" + p + ")"
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
            self.captures[name] = name
        return (body if required else f"(?:{body})?"), required, demanded

    def element(self, tag: str, i: int, el: Element, single: bool) -> tuple[str, bool]:
        comps = [self.field(tag, i, j, c, single) for j, c in enumerate(el.components, 1)]
        required = el.mandatory or any(demanded for _, _, demanded in comps)
        body = _components([p for p, _, _ in comps], [r for _, r, _ in comps], self.cs)
        return (body if required else f"(?:{body})?"), required

    def segment(self, tag: str, single: bool) -> str:
        layout = SEGMENTS[tag]
        if layout.elements is None:
            raise _UnsupportedError
        parts = [self.element(tag, i, e, single) for i, e in enumerate(layout.elements, 1)]
        return re.escape(tag) + _elements([p for p, _ in parts], [r for _, r in parts], self.es)

    def message(self) -> re.Pattern[bytes]:
        version = r"\d\d"
        if self.rules.min_version:
            tens, ones = divmod(self.rules.min_version, 10)
            version = f"(?:{tens}[{ones}-9]" + (f"|[{tens + 1}-9]\\d)" if tens < 9 else ")")
        rel, agency = (self.field("UNH", 2, k, c, True)[0]
                       for k, c in ((3, Field("", "an3", True)), (4, Field("", "an2", True))))
        out = [
            "UNH" + self.es + r"(?P<reference>\d{5})" + self.es + re.escape(self.mtype) + self.cs
            + f"(?P<version>{version})" + self.cs + rel + self.cs + agency + self.ts + "[\r\n]*"
        ]
        for slot in structure_for(self.mtype)[1:-1]:
            if slot.tag == ANY:
                raise _UnsupportedError
            single = slot.max == 1
            seg = "(?:" + self.segment(slot.tag, single) + self.ts + "[\r\n]*)"
            out.append(seg if slot.min == slot.max == 1 else f"{seg}{{{slot.min},{slot.max}}}")
        out.append("UNT" + self.es + r"(?P<unt_count>\d{1,6})" + self.es + "(?P=reference)"
                   + self.ts)
        return re.compile("".join(out).encode("latin-1"))


def _tail(parts: list[str], sep: str) -> str:
    """Trailing optional parts: each may be left out together with everything after it."""
    out = ""
    for p in reversed(parts):
        out = f"(?:{sep}{p}{out})?"
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


class FastPath:
    """Compiled fast patterns for one rule set, built lazily per (type, delimiters)."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._cache: dict[tuple[bytes, Delimiters], tuple[re.Pattern[bytes], list[str]] | None] = {}

    def _compiled(self, mtype: bytes, d: Delimiters) -> tuple[re.Pattern[bytes], list[str]] | None:
        key = (mtype, d)
        if key not in self._cache:
            name = mtype.decode("latin-1")
            entry = None
            if name in MESSAGE_TYPES and name not in self.rules.excluded_types:
                try:
                    b = _Builder(name, d, self.rules)
                    entry = (b.message(), b.iks)
                except _UnsupportedError:
                    entry = None
            self._cache[key] = entry
        return self._cache[key]

    def match(self, buf: bytes, span: MessageSpan, d: Delimiters) -> Fields | None:
        """Fields of a certainly-clean message (stage 1 to 3, minus Python predicates),
        or None if the exact checker has to look."""
        s = span.start
        # UNH+nnnnn+TYPE: — the type sits at a fixed offset when the reference is n5.
        if buf[s + 9 : s + 10] != d.element or buf[s + 14 : s + 15] != d.component:
            return None
        compiled = self._compiled(buf[s + 10 : s + 14], d)
        if compiled is None:
            return None
        pattern, iks = compiled
        m = pattern.fullmatch(buf, s, span.end)
        if m is None:
            return None
        g = m.groupdict()
        for name in iks:
            value = g[name]
            if value is not None and not ik_valid(value.decode("latin-1")):
                return None
        ref = g["reference"]
        if int(g["unt_count"]) != span.segments or int(ref) != span.index:
            return None
        f = Fields()
        f.type = buf[s + 10 : s + 14].decode("latin-1")
        f.version = g["version"].decode("latin-1")
        f.reference = f.unt_reference = ref.decode("latin-1")
        f.unt_count = str(span.segments)
        f.complete_unt = True
        for attr in _CAPTURE.values():
            value = g.get(attr)
            if value:
                setattr(f, attr, value.decode("latin-1"))
        return f
