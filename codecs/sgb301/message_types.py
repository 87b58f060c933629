"""Every §301 message type by name, with direction and whether Stellwerk knows its layout.

Recognising all names lets the validator reject an excluded type (e.g. AMBO in the UV
procedure) with its own code instead of "unknown type".
"""

from __future__ import annotations

import msgspec

__all__ = ["BOTH", "KH_TO_KT", "KT_TO_KH", "MESSAGE_TYPES", "MessageType"]

KH_TO_KT = "KH→KT"
KT_TO_KH = "KT→KH"
BOTH = "beide"


class MessageType(msgspec.Struct, frozen=True):
    """A §301 message type. ``confidence`` follows domain/s301.md: C, I or U."""

    name: str
    title: str
    direction: str
    confidence: str = "C"


MESSAGE_TYPES: dict[str, MessageType] = {
    t.name: t
    for t in (
        MessageType("AUFN", "Aufnahmesatz", KH_TO_KT),
        MessageType("VERL", "Verlängerungsanzeige", KH_TO_KT),
        MessageType("MBEG", "Medizinische Begründung", KH_TO_KT),
        MessageType("RECH", "Rechnungssatz", KH_TO_KT),
        MessageType("ENTL", "Entlassungsanzeige", KH_TO_KT),
        MessageType("AMBO", "Rechnungssatz ambulante Operation", KH_TO_KT),
        MessageType("ZGUT", "Zuzahlungsgutschrift/-rückforderung", KH_TO_KT, "I"),
        MessageType("KOUB", "Kostenübernahmesatz", KT_TO_KH),
        MessageType("ANFM", "Anforderungssatz Medizinische Begründung", KT_TO_KH),
        MessageType("ZAHL", "Zahlungssatz", KT_TO_KH),
        MessageType("ZAAO", "Zahlungssatz ambulante Operation", KT_TO_KH),
        MessageType("SAMU", "Sammelüberweisung", KT_TO_KH),
        MessageType("KAIN", "Krankenkasseninformation (PrüfvV)", KT_TO_KH, "U"),
        MessageType("INKA", "Information Krankenhaus (PrüfvV)", KH_TO_KT, "U"),
        MessageType("KHIN", "Krankenhausinformation (Definition nicht gefunden)", BOTH, "U"),
        MessageType("KANT", "Antwort (Definition nicht gefunden)", BOTH, "U"),
        MessageType("FEHL", "Fehlernachricht", BOTH),
    )
}
