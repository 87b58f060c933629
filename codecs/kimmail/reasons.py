"""The reason catalogue: code → severity, German reason text, German sender notice.

Texts are fixed strings: they never carry content of the mail (names, KVNR, birth
dates, document text), so verdicts and notices can be logged and sent as they are.
Any ``error`` quarantines the mail; ``warning``s alone leave it accepted.

>>> reason("KIM01").text
'Kein Weiterleitungsbogen (Muster 86) gefunden.'
>>> reason("KIM52").severity
'warning'
"""

from __future__ import annotations

import msgspec

from .errors import KimError
from .model import Reason

__all__ = ["CATALOGUE", "ERROR", "WARNING", "CodeInfo", "notice_for", "reason"]

ERROR = "error"
WARNING = "warning"


class CodeInfo(msgspec.Struct, frozen=True):
    """One catalogue entry."""

    severity: str
    text: str
    notice: str


CATALOGUE: dict[str, CodeInfo] = {
    "KIM01": CodeInfo(
        ERROR,
        "Kein Weiterleitungsbogen (Muster 86) gefunden.",
        "Bitte den eingescannten Weiterleitungsbogen (Muster 86) beifügen.",
    ),
    "KIM02": CodeInfo(
        ERROR,
        "Kein lesbares Aktenzeichen auf dem Weiterleitungsbogen (Muster 86).",
        "Bitte den Weiterleitungsbogen (Muster 86) vollständig und gut lesbar einscannen"
        " (Aktenzeichen Mitteilungsmanagement muss lesbar sein).",
    ),
    "KIM03": CodeInfo(
        ERROR,
        "Entschlüsselung der KIM-Mail fehlgeschlagen.",
        "Die Mail konnte nicht entschlüsselt werden. Bitte erneut an die KIM-Adresse des"
        " Medizinischen Dienstes senden.",
    ),
    "KIM04": CodeInfo(
        ERROR,
        "Integritätsprüfung der KIM-Mail fehlgeschlagen.",
        "Die Integrität der Mail konnte nicht bestätigt werden. Bitte die Unterlagen"
        " erneut senden.",
    ),
    "KIM05": CodeInfo(
        ERROR,
        "Hinweis- oder Fehlermail des KIM-Clientmoduls.",
        "Die Mail wurde vom KIM-Clientmodul als fehlerhaft gemeldet. Bitte die Unterlagen"
        " erneut senden.",
    ),
    "KIM06": CodeInfo(
        ERROR,
        "Die Mail betrifft mehr als einen Versicherten.",
        "Bitte pro Versicherten nur eine KIM-Mail senden.",
    ),
    "KIM07": CodeInfo(
        ERROR,
        "Der Weiterleitungsbogen (Muster 86) nennt einen anderen Medizinischen Dienst.",
        "Bitte die Unterlagen an den Medizinischen Dienst im Adressfeld des"
        " Weiterleitungsbogens (Muster 86) senden.",
    ),
    "KIM08": CodeInfo(
        ERROR,
        "Die Mail ist nicht an dieses KIM-Postfach adressiert.",
        "Bitte die korrekte KIM-Adresse des Medizinischen Dienstes (befunde@…) verwenden.",
    ),
    "KIM09": CodeInfo(
        ERROR,
        "Außer Weiterleitungsbogen und Hinweisen enthält die Mail kein angefordertes"
        " Dokument.",
        "Bitte die angeforderten Unterlagen zusammen mit dem Weiterleitungsbogen"
        " (Muster 86) beifügen.",
    ),
    "KIM10": CodeInfo(
        ERROR,
        "Widersprüchliche Aktenzeichen in der Mail.",
        "Bitte pro Mail nur einen Weiterleitungsbogen (Muster 86) und die Unterlagen"
        " zu genau diesem Auftrag senden.",
    ),
    "KIM11": CodeInfo(
        ERROR,
        "Die KVNR des Falls weicht von der KVNR der Mail ab.",
        "Die Unterlagen passen nicht zum Versicherten des Auftrags. Bitte Weiterleitungsbogen"
        " und Unterlagen prüfen.",
    ),
    "KIM12": CodeInfo(
        ERROR,
        "Ungültige KVNR im eArztbrief (CDA).",
        "Bitte die Krankenversichertennummer im eArztbrief prüfen.",
    ),
    "KIM20": CodeInfo(
        ERROR,
        "Die Mail ist zu groß.",
        "Bitte große Datenmengen auf mehrere KIM-Mails verteilen, jede mit dem"
        " Weiterleitungsbogen (Muster 86).",
    ),
    "KIM21": CodeInfo(
        ERROR,
        "Die Mail hat zu viele Teile.",
        "Bitte weniger Anhänge pro Mail senden und große Datenmengen auf mehrere Mails"
        " verteilen.",
    ),
    "KIM22": CodeInfo(
        ERROR,
        "Die Mail ist zu tief verschachtelt.",
        "Bitte die Unterlagen direkt als Anhänge senden, nicht als weitergeleitete Mails.",
    ),
    "KIM23": CodeInfo(
        ERROR,
        "Ein Teil der Mail ist zu groß.",
        "Bitte große Dokumente auf mehrere KIM-Mails verteilen.",
    ),
    "KIM24": CodeInfo(
        ERROR,
        "Die Mail ist fehlerhaft aufgebaut (MIME).",
        "Die Mail konnte technisch nicht gelesen werden. Bitte erneut senden.",
    ),
    "KIM25": CodeInfo(
        ERROR,
        "Der eArztbrief (CDA) enthält eine DOCTYPE- oder Entitätsdeklaration.",
        "Bitte den eArztbrief ohne DOCTYPE- oder Entitätsdeklarationen erzeugen.",
    ),
    "KIM26": CodeInfo(
        ERROR,
        "Ein Anhang ist nicht lesbar.",
        "Ein Anhang ist beschädigt oder unvollständig. Bitte die Datei erneut beifügen.",
    ),
    "KIM27": CodeInfo(
        ERROR,
        "Die Verarbeitungszeit wurde überschritten.",
        "Die Mail konnte nicht in der vorgesehenen Zeit verarbeitet werden. Bitte die"
        " Unterlagen auf mehrere Mails verteilen.",
    ),
    "KIM51": CodeInfo(
        WARNING,
        "Ein Anhang hat ein nicht unterstütztes Format.",
        "Bitte Dokumente bevorzugt als PDF oder JPG senden.",
    ),
    "KIM52": CodeInfo(
        WARNING,
        "Die Mail enthält einen Mailtext; er wird nicht verarbeitet.",
        "Bitte keine Informationen in den Mailtext schreiben; Hinweise bitte im"
        " eArztbrief vermerken.",
    ),
}


def reason(code: str) -> Reason:
    """The :class:`~kimmail.model.Reason` for ``code``; :class:`KimError` if unknown."""
    info = CATALOGUE.get(code)
    if info is None:
        raise KimError(f"unknown reason code {code!r}")
    return Reason(code=code, severity=info.severity, text=info.text)


def notice_for(code: str) -> str:
    """The German sender notice for ``code`` (what to fix)."""
    info = CATALOGUE.get(code)
    if info is None:
        raise KimError(f"unknown reason code {code!r}")
    return info.notice
