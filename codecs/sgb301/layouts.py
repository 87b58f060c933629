"""Segment layouts and message structures of §301 (version 12/13) as data.

Nothing here is logic: the validator and the fast-path compiler read these tables. Each
segment carries the confidence tag of ``domain/s301.md`` (C confirmed, I inferred,
U unconfirmed); an inferred layout is corrected by editing its row, not the validator.

Notation per element: ``(name, format, mandatory)`` or, for a composite element,
``(name, [(component name, format, mandatory), ...], mandatory)``. Formats are resolved
by :mod:`sgb301.formats`. ``None`` as the element list means "known tag, layout not yet
taken from Anlage 1": any content is accepted.
"""

from __future__ import annotations

import msgspec

from .errors import LayoutError
from .formats import resolve

__all__ = [
    "ANY",
    "SEGMENTS",
    "STRUCTURES",
    "Element",
    "Field",
    "SegmentLayout",
    "Slot",
    "structure_for",
]

M, K = True, False


class Field(msgspec.Struct, frozen=True):
    """One component (a simple element has exactly one)."""

    name: str
    fmt: str
    mandatory: bool


class Element(msgspec.Struct, frozen=True):
    """A data element: one field, or several components for a composite."""

    name: str
    components: tuple[Field, ...]
    mandatory: bool


class SegmentLayout(msgspec.Struct, frozen=True):
    """A segment: tag, German name, confidence and its elements (None = any content)."""

    tag: str
    name: str
    confidence: str
    elements: tuple[Element, ...] | None


class Slot(msgspec.Struct, frozen=True):
    """One position of a message structure: a segment tag with min/max repetitions.

    The tag ``*`` (:data:`ANY`) accepts any known segment, for types whose structure
    is not yet tabulated.
    """

    tag: str
    min: int
    max: int


ANY = "*"

_Spec = tuple[str, str | list[tuple[str, str, bool]], bool]


def _seg(tag: str, name: str, confidence: str, specs: list[_Spec] | None) -> SegmentLayout:
    if specs is None:
        return SegmentLayout(tag, name, confidence, None)
    elements = []
    for el_name, fmt, mandatory in specs:
        if isinstance(fmt, str):
            comps: tuple[Field, ...] = (Field(el_name, fmt, mandatory),)
        else:
            comps = tuple(Field(n, f, m) for n, f, m in fmt)
        for c in comps:
            resolve(c.fmt)  # fail at import on a typo in the table
        elements.append(Element(el_name, comps, mandatory))
    return SegmentLayout(tag, name, confidence, tuple(elements))


SEGMENTS: dict[str, SegmentLayout] = {
    s.tag: s
    for s in (
        _seg("UNH", "Nachrichtenkopf", "C", [
            ("Nachrichtenreferenz", "n5", M),
            ("Nachrichtenkennung", [
                ("Nachrichtentyp", "an4", M),
                ("Versionsnummer", "n2", M),
                ("Freigabenummer", "an3", M),
                ("Verwaltende Organisation", "an2", M),
            ], M),
        ]),
        _seg("UNT", "Nachrichtenende", "C", [
            ("Anzahl der Segmente", "n..6", M),
            ("Nachrichtenreferenz", "n5", M),
        ]),
        _seg("FKT", "Funktion", "C", [
            ("Verarbeitungskennzeichen", "n2", M),
            ("Laufende Nummer des Geschäftsvorfalls", "n2", M),
            ("IK des Absenders", "ik", M),
            ("IK des Empfängers", "ik", M),
            ("IK der Krankenkasse", "ik", K),  # [U] newer versions
        ]),
        _seg("INV", "Information Versicherter", "C", [
            ("Krankenversicherten-Nr.", "an..12", K),
            ("Versichertenart", "an..1", K),
            ("Besonderer Personenkreis", "an..2", K),
            ("DMP-Teilnahme", "an..2", K),
            ("Gültigkeit der Versichertenkarte", "mmjj", K),
            ("KH-internes Kennzeichen des Versicherten", "an..15", M),
            ("Fallnummer der Krankenkasse", "an..15", K),
            ("Aktenzeichen der Krankenkasse", "an..20", K),
            ("Tag des Beginns des Versicherungsschutzes", "date", K),
            # UV: Unfalltag or "BK" (rule 34U01); GKV: Vertragskennzeichen.
            ("Vertragskennzeichen / Unfalltag", "an..25", K),
        ]),
        _seg("NAD", "Name und Adresse", "C", [
            ("Name", "an..47", M),
            ("Vorname", "an..30", M),
            ("Geschlecht", "an1", M),
            ("Geburtsdatum", "date", M),
            ("Straße und Hausnummer", "an..46", K),
            ("Postleitzahl", "an..10", K),
            ("Wohnort", "an..40", K),
            ("Titel", "an..20", K),
            ("Internationales Länderkennzeichen", "an..3", K),
            ("Namenszusatz", "an..20", K),
            ("Vorsatzwort", "an..20", K),
            ("Anschriftenzusatz", "an..40", K),
        ]),
        _seg("DPV", "Diagnosen-/Prozedurenversion", "C", [
            ("ICD-Version", "n4", M),
            ("OPS-Version", "n4", K),
        ]),
        _seg("AUF", "Aufnahme", "I", [
            ("Aufnahmetag", "date", M),
            ("Aufnahmeuhrzeit", "time", M),
            ("Aufnahmegrund", "n4", M),
            ("Fachabteilung", "an4", M),
            ("Voraussichtliche Dauer bis", "date", K),
            ("Arztnummer (LANR) des einweisenden Arztes", "n..9", K),
            ("Betriebsstättennummer", "n..9", K),
            ("IK des einweisenden/verlegenden Krankenhauses", "ik", K),
        ]),
        _seg("EAD", "Aufnahmediagnose", "C", [
            ("Diagnose", [("ICD-Schlüssel", "icd", M), ("Seitenlokalisation", "an1", K)], M),
            ("Sekundärdiagnose", [("ICD-Schlüssel", "icd", M), ("Seitenlokalisation", "an1", K)],
             K),
        ]),
        _seg("KOS", "Kostenübernahme", "I", [
            ("Kostenübernahme ab", "date", M),
            # [U] Position of the Prüfungsvermerk (rule 34U09) is inferred from the seed.
            ("Prüfungsvermerk / Merkmal Kostenübernahme", "n2", M),
            ("Kostenübernahme bis", "date", K),
        ]),
        _seg("DAU", "Dauer", "I", [
            ("Beginn", "date", M),
            ("Ende", "date", K),
        ]),
        _seg("ETL", "Entlassung", "I", [
            ("Tag der Entlassung/Verlegung", "date", M),
            ("Uhrzeit", "time", M),
            ("Entlassungs-/Verlegungsgrund", "n3", M),
            ("Fachabteilung", "an4", M),
            ("Hauptdiagnose", [("ICD-Schlüssel", "icd", M), ("Seitenlokalisation", "an1", K)], K),
            ("Sekundärdiagnose", [("ICD-Schlüssel", "icd", M), ("Seitenlokalisation", "an1", K)],
             K),
            ("IK des aufnehmenden Krankenhauses", "ik", K),
        ]),
        _seg("NDG", "Nebendiagnose", "I", [
            ("Diagnose", [("ICD-Schlüssel", "icd", M), ("Seitenlokalisation", "an1", K)], M),
            ("Sekundärdiagnose", [("ICD-Schlüssel", "icd", M), ("Seitenlokalisation", "an1", K)],
             K),
        ]),
        _seg("FAB", "Fachabteilung", "I", [
            ("Fachabteilung", "an4", M),
            ("Angabe 2", "an..12", K),
            ("Angabe 3", "an..12", K),
            ("Angabe 4", "an..12", K),
            ("Angabe 5", "an..12", K),
            ("Operationstag", "date", K),
            ("Prozedur (OPS)", "ops", K),
        ]),
        _seg("CUX", "Währung", "C", [("Währungskennzeichen", "an3", M)]),
        _seg("REC", "Rechnung", "I", [
            ("Rechnungsnummer", "an..20", M),
            ("Rechnungsdatum", "date", M),
            ("Rechnungsart", "n2", M),
            ("Aufnahmetag", "date", M),
            ("Rechnungsbetrag", "dec", M),
            ("Debitorenkonto", "an..15", K),
        ]),
        _seg("ZLG", "Zuzahlung", "I", [
            ("Zuzahlungsbetrag", "dec", M),
            ("Zuzahlungskennzeichen", "n1", M),
        ]),
        _seg("ENT", "Entgelt", "I", [
            ("Entgeltart", "an..8", M),
            ("Entgeltbetrag", "dec", M),
            ("Abgerechnet von", "date", M),
            ("Abgerechnet bis", "date", M),
            ("Entgeltanzahl", "n..3", M),
            ("Tage ohne Berechnung", "n..3", K),
        ]),
        _seg("TXT", "Freitext", "U", [
            ("Text", "an..70", M),
            ("Text 2", "an..70", K),
            ("Text 3", "an..70", K),
        ]),
        # Stellwerk's FEHL error segment [U]: the official FHL layout was not available.
        _seg("FHL", "Fehler", "U", [
            ("Fehlercode", "an..5", M),
            ("Fehlerort", [
                ("Segmentkennung", "an3", K),
                ("Segmentnummer", "n..4", K),
                ("Datenelement", "n..3", K),
                ("Komponente", "n..2", K),
            ], K),
            ("Fehlertext", "an..256", M),
            ("Referenz der fehlerhaften Nachricht", "n5", K),
        ]),
        # Known tags whose layout was not found in the sources (AMBO and others).
        _seg("RZA", "Rechnung ambulante OP", "U", None),
        _seg("BDG", "Behandlungsdiagnose", "U", None),
        _seg("PRZ", "Prozedur", "U", None),
        _seg("ENA", "Entgelt ambulant", "U", None),
        _seg("EZV", "Einweisungs-/Zuweisungsvermerk", "U", None),
    )
}


def _slots(*rows: tuple[str, int, int]) -> tuple[Slot, ...]:
    return tuple(Slot(t, lo, hi) for t, lo, hi in rows)


_HEAD = (("UNH", 1, 1), ("FKT", 1, 1), ("INV", 1, 1))

# Order and cardinality per message type (version 12/13) [I: from the seed examples and
# the 13. Fortschreibung excerpts; correct here when Anlage 1 is at hand].
STRUCTURES: dict[str, tuple[Slot, ...]] = {
    "AUFN": _slots(*_HEAD, ("NAD", 1, 1), ("DPV", 0, 1), ("AUF", 1, 1), ("EAD", 1, 99),
                   ("UNT", 1, 1)),
    "KOUB": _slots(*_HEAD, ("NAD", 0, 1), ("KOS", 1, 1), ("TXT", 0, 99), ("UNT", 1, 1)),
    "ENTL": _slots(*_HEAD, ("NAD", 0, 1), ("DPV", 0, 1), ("DAU", 0, 1), ("ETL", 1, 1),
                   ("NDG", 0, 99), ("FAB", 0, 999), ("UNT", 1, 1)),
    "RECH": _slots(*_HEAD, ("NAD", 0, 1), ("CUX", 1, 1), ("REC", 1, 1), ("ZLG", 0, 1),
                   ("FAB", 0, 1), ("ENT", 1, 999), ("UNT", 1, 1)),
    "FEHL": _slots(("UNH", 1, 1), ("FKT", 1, 1), ("INV", 0, 1), ("FHL", 1, 999), ("UNT", 1, 1)),
}

# Types without a tabulated structure: header, then any known segments.
_GENERIC = _slots(("UNH", 1, 1), ("FKT", 1, 1), ("INV", 0, 1), (ANY, 0, 9999), ("UNT", 1, 1))


def structure_for(message_type: str) -> tuple[Slot, ...]:
    """The structure of ``message_type``, or the generic one for untabulated types."""
    return STRUCTURES.get(message_type, _GENERIC)


def _check_tables() -> None:
    for name, slots in STRUCTURES.items():
        for slot in slots:
            if slot.tag != ANY and slot.tag not in SEGMENTS:
                raise LayoutError(f"structure {name} names unknown segment {slot.tag}")
            if not 0 <= slot.min <= slot.max:
                raise LayoutError(f"structure {name}: bad cardinality for {slot.tag}")


_check_tables()
