"""Records the codec returns: interchange envelope, message verdicts, typed segments.

All are frozen ``msgspec.Struct``s. Raw message bytes are never copied into them: a
verdict holds ``start``/``end`` offsets into the caller's buffer, so
``buf[v.start:v.end]`` (or a ``memoryview``) is the message unchanged.
"""

from __future__ import annotations

import msgspec

from .delimiters import DEFAULT, Delimiters

__all__ = [
    "ACCEPTED",
    "REJECTED",
    "Auf",
    "DecodedMessage",
    "Ent",
    "Etl",
    "Fkt",
    "Interchange",
    "InterchangeReport",
    "Inv",
    "Kos",
    "MessageSpan",
    "MessageVerdict",
    "Rec",
    "Reply",
    "Token",
    "Txt",
    "Violation",
    "Zlg",
    "fields_in_order",
]

ACCEPTED = "accepted"
REJECTED = "rejected"


def fields_in_order(cls: type[msgspec.Struct], names: tuple[str, ...]) -> None:
    """Raise ImportError unless ``cls``'s fields are ``names``, in that order: the hot
    paths build some records positionally (keywords are matched one by one and cost
    several times the call), and a model edit must not shift their values silently.

    >>> fields_in_order(MessageSpan, ("index", "start", "end", "segments", "complete",
    ...                               "released"))
    >>> fields_in_order(MessageSpan, ("index", "end", "start", "segments", "complete",
    ...                               "released"))
    Traceback (most recent call last):
    ImportError: MessageSpan's fields are ('index', 'start', ...), not ('index', 'end', ...): ...
    """
    if cls.__struct_fields__ != names:
        raise ImportError(f"{cls.__name__}'s fields are {cls.__struct_fields__}, not {names}: "
                          "update the positional constructions that name them")


class Violation(msgspec.Struct, frozen=True, omit_defaults=True):
    """One finding: code, Prüfstufe, where (segment tag, 1-based segment number in the
    message, 1-based element and component) and the German text.

    ``offset`` is the byte offset of the segment (or of the offending byte for
    character-set findings) in the input buffer.
    """

    code: str
    stage: int
    segment: str
    segment_number: int
    element: int
    text: str
    component: int = 0
    offset: int = -1


class MessageSpan(msgspec.Struct, frozen=True):
    """Where one UNH … UNT message lies in the buffer, as found by the tokenizer.

    ``end`` is just past the UNT terminator (or where the message was cut off).
    ``segments`` counts segments UNH … UNT inclusive; ``complete`` is False when UNT
    is missing; ``released`` is True when the message contains the release character.
    """

    index: int
    start: int
    end: int
    segments: int
    complete: bool
    released: bool


class Interchange(msgspec.Struct, frozen=True):
    """The envelope (UNB/UNZ) and the message spans of one interchange."""

    delimiters: Delimiters = DEFAULT
    syntax: str = ""
    sender_ik: str = ""
    receiver_ik: str = ""
    prepared: str = ""
    reference: str = ""
    application_reference: str = ""
    test_indicator: str = ""
    messages: tuple[MessageSpan, ...] = ()
    problems: tuple[Violation, ...] = ()
    has_unb: bool = False


class MessageVerdict(msgspec.Struct, frozen=True):
    """The verdict on one message, with the fields routing needs.

    ``case`` is the hospital's case number (INV-6), ``unfalltag`` the UV accident day
    or ``BK`` (INV-10). ``test`` marks UV test operation (never delivered to a carrier).
    """

    message: int
    type: str
    version: str
    reference: str
    sender_ik: str
    receiver_ik: str
    case: str
    verdict: str
    errors: tuple[Violation, ...]
    start: int
    end: int
    processing: str = ""
    sequence: str = ""
    unfalltag: str = ""
    test: bool = False

    @property
    def accepted(self) -> bool:
        """True if the message passed every check."""
        return self.verdict == ACCEPTED


class InterchangeReport(msgspec.Struct, frozen=True):
    """Validation result of one buffer: envelope, file-level findings, message verdicts.

    ``file_errors`` non-empty means the whole file is rejected (Prüfstufe 1); every
    message then also carries ``1SW00``.
    """

    interchange: Interchange
    file_errors: tuple[Violation, ...]
    messages: tuple[MessageVerdict, ...]
    test: bool = False

    @property
    def accepted(self) -> bool:
        """True if the file and every message in it were accepted."""
        return not self.file_errors and all(m.accepted for m in self.messages)


# ---- typed segments, produced by sgb301.decode for the segments the rules read --------


class Fkt(msgspec.Struct, frozen=True):
    """FKT: Verarbeitungskennzeichen, laufende Nummer, IK sender/receiver/KK."""

    processing: str
    sequence: str
    sender_ik: str
    receiver_ik: str
    insurer_ik: str = ""


class Inv(msgspec.Struct, frozen=True):
    """INV, the fields routing and UV rules read (no insurance number is kept)."""

    case: str
    insurer_case: str = ""
    insurer_reference: str = ""
    unfalltag: str = ""
    has_insured_data: bool = False


class Auf(msgspec.Struct, frozen=True):
    """AUF: admission day, time, Aufnahmegrund, Fachabteilung, referring IK."""

    day: str
    time: str
    reason: str
    department: str
    until: str = ""
    referrer_ik: str = ""


class Etl(msgspec.Struct, frozen=True):
    """ETL: discharge day, time, Entlassungsgrund, Fachabteilung."""

    day: str
    time: str
    reason: str
    department: str


class Ent(msgspec.Struct, frozen=True):
    """ENT: one Entgelt line."""

    kind: str
    amount: str
    start: str
    end: str
    count: str


class Rec(msgspec.Struct, frozen=True):
    """REC: invoice number, date, Rechnungsart, admission day, amount."""

    number: str
    date: str
    kind: str
    admission: str
    amount: str


class Zlg(msgspec.Struct, frozen=True):
    """ZLG: co-payment amount and Zuzahlungskennzeichen."""

    amount: str
    flag: str


class Kos(msgspec.Struct, frozen=True):
    """KOS: cost coverage from, Prüfungsvermerk, until."""

    start: str
    mark: str
    until: str = ""


class Txt(msgspec.Struct, frozen=True):
    """TXT: free text (never logged)."""

    text: str


class DecodedMessage(msgspec.Struct, frozen=True):
    """A message decoded into typed segments (only those the rules read)."""

    type: str
    version: str
    reference: str
    fkt: Fkt | None = None
    inv: Inv | None = None
    auf: Auf | None = None
    etl: Etl | None = None
    rec: Rec | None = None
    zlg: Zlg | None = None
    kos: Kos | None = None
    ent: tuple[Ent, ...] = ()
    txt: tuple[Txt, ...] = ()


class Token(msgspec.Struct, frozen=True):
    """One segment: its tag, byte span (terminator excluded) and 1-based number."""

    tag: str
    start: int
    end: int
    number: int


class Reply(msgspec.Struct, frozen=True):
    """A reply interchange addressed to ``receiver_ik`` (the original sender).

    ``kinds`` lists the message types in order, e.g. ``("KOUB", "FEHL")``.
    """

    receiver_ik: str
    sender_ik: str
    interchange: bytes
    kinds: tuple[str, ...]

