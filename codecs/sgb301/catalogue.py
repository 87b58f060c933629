"""Error codes: the DGUV catalogue (Sonderregelung Nr. 12), plus Stellwerk's own codes.

Official codes keep their published German text verbatim. Where no official code is
known for a check, Stellwerk uses a project code ``<Prüfstufe>SW<nn>``: the first
character is the Prüfstufe as in the GKV scheme, ``SW`` marks the code as Stellwerk's,
so it can never collide with a GKV (numeric) or DGUV (``nnUnn``) code.

>>> CATALOGUE["34U05"].stage
3
"""

from __future__ import annotations

import msgspec

__all__ = ["CATALOGUE", "CodeInfo", "text_for"]


class CodeInfo(msgspec.Struct, frozen=True):
    """One error code: Prüfstufe, German text, and where it comes from."""

    code: str
    stage: int
    text: str
    source: str


_DGUV = "DGUV Nachtrag 2016, Sonderregelung Nr. 12"
_GKV = "GKV Anlage 2 Anhang C (2009)"
_SW = "Stellwerk"
_SW_GKV = "Stellwerk; text from GKV Anlage 2 Anhang C (2009), number unknown"

_ROWS: tuple[tuple[str, str, str], ...] = (
    # ---- DGUV 301-UV catalogue, texts verbatim from the seed -----------------------
    ("24U01", _DGUV, "Nachrichtenversion < 12 unzulässig."),
    ("34U01", _DGUV, "Der Unfalltag ist nicht angegeben oder entspricht nicht dem Format "
                     "JJJJMMTT oder die Angabe „BK“ fehlt."),
    ("34U02", _DGUV, "Aufnahmegrund entspricht in der 1. und 2. Stelle nicht „01“, „02“, "
                     "„03“, „04“ oder „05“."),
    ("34U03", _DGUV, "Aufnahmegrund entspricht an der 3. und 4. Stelle nicht „02“."),
    ("34U04", _DGUV, "Entlassungs-/Verlegungsgrund „059“ nicht zulässig."),
    ("34U05", _DGUV, "Verarbeitungskennzeichen entspricht nicht „10“, „20“, „30“ bis „34“, "
                     "„40“ oder „41“."),
    ("34U06", _DGUV, "Übermittlung ambulanter Entgelte im UV-Verfahren nicht zulässig."),
    ("34U07", _DGUV, "Angaben zu Versichertennummer, Gültigkeit der Krankenversichertenkarte, "
                     "Versichertenart, Besonderer Personenkreis, DMP-Teilnahme im "
                     "UV-Verfahren nicht zulässig."),
    ("34U08", _DGUV, "Zuzahlungskennzeichen entspricht nicht „1“."),
    ("34U09", _DGUV, "Prüfungsvermerk entspricht nicht „01“, „02“, „03“, „04“, „05“ oder „07“."),
    ("34U10", _DGUV, "Nachrichtentyp AMBO nicht zulässig."),
    ("34U11", _DGUV, "Nachrichtentyp ZGUT nicht zulässig."),
    ("34U12", _DGUV, "Nachrichtentyp ZAAO nicht zulässig."),
    ("34U13", _DGUV, "Nachrichtentyp SAMU nicht zulässig."),
    ("34U14", _DGUV, "Nachrichtentyp VERL nicht zulässig."),
    ("34U15", _DGUV, "UV-Träger nicht zuständig. IK des zuständigen UV-Trägers: {ik}"),
    # ---- GKV code with a known number ---------------------------------------------
    ("10066", _GKV, "Segment UNB fehlt bzw. folgt nicht auf UNA"),
    # ---- Stellwerk, Prüfstufe 1: file and interchange ------------------------------
    ("1SW00", _SW, "Übertragungsdatei wegen eines Fehlers der Prüfstufe 1 abgewiesen"),
    ("1SW01", _SW, "Datei leer oder nicht lesbar"),
    ("1SW02", _SW, "Segment UNA nicht genau 9 Zeichen lang"),
    ("1SW03", _SW, "Segment UNA Stelle 8 nicht Blank (reserviert für spätere Verwendung)"),
    ("1SW04", _SW, "UNA: nur Sonderzeichen (ohne Umlaute) erlaubt"),
    ("1SW05", _SW, "UNA: Datenelemente 4 bis 7 und 9 nicht alle verschieden"),
    ("1SW06", _SW, "Segment UNA doppelt oder nicht am Dateianfang"),
    ("1SW07", _SW, "Verwendete Syntax (UNB S001) nicht bekannt, erwartet UNOC:3"),
    ("1SW08", _SW, "IK des Absenders oder Empfängers im UNB ungültig (9 Ziffern mit Prüfziffer)"),
    ("1SW09", _SW, "UNB S004: Datenfeldformat nicht Datum:Uhrzeit (JJMMTT:HHMM)"),
    ("1SW10", _SW, "UNB 0020: Datenaustauschreferenz (Dateinummer) nicht 5-stellig numerisch"),
    ("1SW11", _SW, "Referenz/Passwort des Empfängers (UNB S005) unzulässig gefüllt"),
    ("1SW12", _SW, "Anwendungsreferenz (UNB 0026) < 8 Stellen oder > 11 Stellen"),
    ("1SW13", _SW, "Segment UNH fehlt bzw. folgt nicht auf UNB"),
    ("1SW14", _SW, "Segment UNT fehlt"),
    ("1SW15", _SW, "Segment UNZ fehlt (Datei unvollständig)"),
    ("1SW16", _SW, "Segment nicht abgeschlossen (Segmentendezeichen fehlt)"),
    ("1SW17", _SW, "Zeichen außerhalb des Zeichensatzes ISO 8859-1 (UNOC) oder Steuerzeichen"),
    ("1SW18", _SW, "Anzahl der Segmente in UNT stimmt nicht"),
    ("1SW19", _SW, "Nachrichtenreferenz in UNT ungleich UNH"),
    ("1SW20", _SW, "Nachrichten-Referenznummer in UNH nicht lückenlos aufsteigend ab 00001"),
    ("1SW21", _SW, "Anzahl der Nachrichten in UNZ stimmt nicht"),
    ("1SW22", _SW, "Datenaustauschreferenz in UNZ ungleich UNB"),
    ("1SW23", _SW, "Nach UNT folgt nicht UNH oder UNZ"),
    ("1SW24", _SW, "Daten nach Segment UNZ"),
    ("1SW25", _SW, "Daten in UTF-8 statt ISO 8859-1 kodiert"),
    ("1SW26", _SW, "Erstellungstag und Uhrzeit der Datei > Tag und Uhrzeit der Verarbeitung"),
    ("1SW27", _SW, "Segment UNB fehlerhaft (Anzahl der Datenelemente)"),
    ("1SW28", _SW_GKV, "Verwendetes Trennkennzeichen nicht bekannt"),
    # ---- Stellwerk, Prüfstufe 2: syntax (segments, separators, mandatory fields) --------
    ("2SW01", _SW, "Segment unbekannt"),
    ("2SW02", _SW, "Mussegment fehlt"),
    ("2SW03", _SW, "Segment an dieser Stelle nicht zulässig"),
    ("2SW04", _SW, "Segment zu oft wiederholt"),
    ("2SW05", _SW, "Anzahl der Trennkennzeichen im Segment fehlerhaft (zu viele Datenelemente)"),
    ("2SW06", _SW, "Anzahl der Gruppentrennzeichen fehlerhaft (zu viele Komponenten)"),
    ("2SW07", _SW, "Mussfeld nicht gefüllt"),
    ("2SW14", _SW, "Nachrichtentyp unbekannt"),
    ("2SW16", _SW, "Nachrichtenkennung in UNH fehlerhaft (Typ:Version:Release:Organisation)"),
    ("2SW18", _SW, "Freigabezeichen vor einem Zeichen, das kein Trennzeichen ist"),
    # ---- Stellwerk, Prüfstufe 3: content -------------------------------------------
    ("3SW01", _SW, "Testbetrieb: IK im FKT-Segment ist nicht das Test-IK 120591481"),
    ("3SW02", _SW, "Testbetrieb: Testdatenkennung „TUVK0“ fehlt"),
    ("3SW03", _SW, "Schlüsselwert nicht zulässig"),
    ("3SW10", _SW, "Nachrichtentyp KAIN im UV-Verfahren ausgeschlossen (Sonderregelung Nr. 9)"),
    ("3SW11", _SW, "Nachrichtentyp INKA im UV-Verfahren ausgeschlossen (Sonderregelung Nr. 9)"),
    # formats, lengths, dates and check digits of field contents: Stufe 3 in Anlage 4
    # §6 (formerly 2SW08-2SW13, 2SW15, 2SW17; the first digit names the Prüfstufe)
    ("3SW20", _SW, "Datenfeldformat nicht numerisch"),
    ("3SW21", _SW, "Datenfeldlänge nicht korrekt"),
    ("3SW22", _SW, "Datenfeldformat nicht Datum (JJJJMMTT) oder kein gültiges Datum"),
    ("3SW23", _SW, "Datenfeldformat nicht Uhrzeit (HHMM)"),
    ("3SW24", _SW, "Institutionskennzeichen ungültig (9 Ziffern mit Prüfziffer)"),
    ("3SW25", _SW, "Datenfeldformat nicht Betrag (Dezimalzeichen, max. 2 Nachkommastellen)"),
    ("3SW26", _SW, "Datenfeldformat nicht zulässig (Zeichen oder Aufbau)"),
    ("3SW27", _SW, "Datenfeldformat nicht Monat/Jahr (MMJJ)"),
)

CATALOGUE: dict[str, CodeInfo] = {
    code: CodeInfo(code, int(code[0]), text, source) for code, source, text in _ROWS
}


def text_for(code: str, **fields: str) -> str:
    """The German text of ``code`` with placeholders such as ``{ik}`` filled in."""
    text = CATALOGUE[code].text
    return text.format(**fields) if fields else text
