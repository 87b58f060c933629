"""Decode one message into typed segments — only the segments the rules and routing read.

Nothing else is decoded: NAD (names, birth date) and the insurance number in INV stay
bytes in the buffer, so no health data lands in a Python object by accident.

>>> from sgb301.examples import load
>>> buf = load()["8.1.1-AUFN"]
>>> from sgb301 import scan
>>> m = decode(buf, scan(buf).messages[0])
>>> m.type, m.fkt.receiver_ik, m.auf.reason
('AUFN', '120591481', '0102')
"""

from __future__ import annotations

from typing import Any

from .delimiters import DEFAULT, Delimiters
from .model import Auf, DecodedMessage, Ent, Etl, Fkt, Inv, Kos, MessageSpan, Rec, Txt, Zlg
from .tokenizer import iter_segments, split_elements, unescape

__all__ = ["decode"]

# tag → (struct, element positions feeding its fields in order, repeated?)
_TYPED: dict[str, tuple[type[Any], tuple[int, ...], bool]] = {
    "FKT": (Fkt, (1, 2, 3, 4, 5), False),
    "AUF": (Auf, (1, 2, 3, 4, 5, 8), False),
    "ETL": (Etl, (1, 2, 3, 4), False),
    "REC": (Rec, (1, 2, 3, 4, 5), False),
    "ZLG": (Zlg, (1, 2), False),
    "KOS": (Kos, (1, 2, 3), False),
    "ENT": (Ent, (1, 2, 3, 4, 5), True),
    "TXT": (Txt, (1,), True),
}


def decode(buf: bytes, span: MessageSpan, d: Delimiters = DEFAULT) -> DecodedMessage:
    """Typed view of the message ``buf[span.start:span.end]``.

    Tolerant: missing elements become empty strings; validity is the validator's job.
    """
    single: dict[str, Any] = {}
    repeated: dict[str, list[Any]] = {"ENT": [], "TXT": []}
    head = ("", "", "")
    for s, e in iter_segments(buf, span.start, span.end, d):
        els = split_elements(buf, s, e, d)
        tag = els[0][0].decode("latin-1")

        def get(i: int, c: int = 0, els: list[list[bytes]] = els) -> str:
            if i < len(els) and c < len(els[i]):
                return unescape(els[i][c], d).decode("latin-1")
            return ""

        if tag == "UNH":
            head = (get(2), get(2, 1), get(1))
        elif tag == "INV" and "inv" not in single:
            insured = any(get(i) for i in (1, 2, 3, 4, 5))
            single["inv"] = Inv(get(6), get(7), get(8), get(10), insured)
        elif tag in _TYPED:
            cls, positions, many = _TYPED[tag]
            value = cls(*(get(i) for i in positions))
            if many:
                repeated[tag].append(value)
            else:
                single.setdefault(tag.lower(), value)
    return DecodedMessage(
        type=head[0],
        version=head[1],
        reference=head[2],
        ent=tuple(repeated["ENT"]),
        txt=tuple(repeated["TXT"]),
        **single,
    )
