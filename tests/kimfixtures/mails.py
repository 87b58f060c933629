"""KIM mail fixtures: what a KIM client module delivers to ``befunde@md-sachsen…``.

Fictitious persons only: KVNR ``A123456780`` (Erika Musterfrau) and ``B987654320``
(a second insured person), both with a correct check digit. The same arguments give the
same bytes (fixed Date, generated Message-ID from the content), so ``mail_id`` is stable.

* :func:`kim_mail` — a mail as the MD Sachsen guidance asks for it: Muster 86 scan,
  requested documents, optional eArztbrief (PDF + CDA), KIM headers;
* :func:`cda_xml`, :func:`client_module_notice`, :func:`text_pdf`;
* negative builders: :func:`xxe_cda`, :func:`billion_laughs_cda`,
  :func:`many_parts_mail`, :func:`huge_mail`, :func:`broken_mime_mail`,
  :func:`truncated_pdf_mail`.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import io
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime

from fpdf import FPDF

from kimmail.muster86 import FormLimits, FormReading

from .muster86 import muster86_pdf

__all__ = [
    "KVNR",
    "KVNR_2",
    "MD_ADDRESS",
    "SENDER",
    "arztbrief_pdf",
    "befundbericht_pdf",
    "billion_laughs_cda",
    "broken_mime_mail",
    "cda_xml",
    "client_module_notice",
    "fake_form",
    "fake_reader",
    "huge_mail",
    "kim_mail",
    "many_parts_mail",
    "no_text",
    "signature_report_pdf",
    "text_pdf",
    "truncated_pdf_mail",
    "xxe_cda",
]

KVNR = "A123456780"
KVNR_2 = "B987654320"
MD_ADDRESS = "befunde@md-sachsen.kim.telematik"
SENDER = "praxis.dr.beispiel@arzt.kim.telematik"
_DATE = _dt.datetime(2024, 3, 4, 10, 15, 0, tzinfo=_dt.UTC)
# Sentinel for "the default Muster 86" (None means: no form at all).
_DEFAULT_FORM = b"<default Muster 86>"
_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


@functools.cache
def _default_form(kvnr: str) -> bytes:
    # Drawing the form costs ~50 ms; the bytes are immutable, so share them.
    return muster86_pdf(kvnr=kvnr)


# -- a fake, fast form reader -------------------------------------------------------------
# It answers from a marker in the bytes, ``FAKE-M86|<akz>|<md>|<kvnr>|<source>|<0/1>``, so
# tests can draw readings the generator cannot (unconfident, OCR source) without OCR.

_NO_LIMITS = FormLimits()
_MARKER = re.compile(rb"FAKE-M86\|([0-9]*)\|([^|]*)\|([A-Z0-9]*)\|([a-z-]*)\|([01])")


def fake_form(
    aktenzeichen: str = "400000000482041289",
    *,
    md: str = "Sachsen",
    kvnr: str = "A123456780",
    source: str = "pdf-text",
    confident: bool = True,
) -> bytes:
    """A tiny complete PDF carrying the fake reader's marker."""
    marker = f"FAKE-M86|{aktenzeichen}|{md}|{kvnr}|{source}|{int(confident)}"
    return _tiny_pdf(marker)


def _tiny_pdf(comment: str) -> bytes:
    # A one-page PDF that pypdf opens; the marker sits in a comment line.
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    out = bytearray(b"%PDF-1.4\n%" + comment.encode() + b"\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def fake_reader(
    data: bytes, media: str, *, pattern: str = r"[0-9]{18}", limits: FormLimits = _NO_LIMITS
) -> FormReading:
    """Answers from the marker of :func:`fake_form`; anything else is no form."""
    m = _MARKER.search(data)
    if m is None:
        return FormReading(
            is_muster86=False, aktenzeichen=None, source=None, candidates=(), confident=False,
            md_names=(), kvnr=None, detail="no marker",
        )
    akz, md, kvnr, source, conf = (g.decode() for g in m.groups())
    confident = conf == "1" and bool(akz)
    return FormReading(
        is_muster86=True,
        aktenzeichen=akz if confident else None,
        source=source or None,
        candidates=(akz,) if akz else (),
        confident=confident,
        md_names=(md,) if md else (),
        kvnr=kvnr or None,
        detail="fake",
    )


def no_text(data: bytes) -> str | None:
    """A text layer that never finds text (every PDF looks like a scan)."""
    return None


def text_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with a text layer holding ``lines`` (deterministic bytes)."""
    pdf = FPDF(format="A4")
    pdf.set_creation_date(_DATE)
    pdf.add_page()
    pdf.add_font("DejaVu", fname=_FONT)
    pdf.set_font("DejaVu", size=11)
    for line in lines:
        pdf.cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


@functools.cache
def befundbericht_pdf() -> bytes:
    """A requested document: a short fictitious Befundbericht."""
    return text_pdf([
        "Befundbericht",
        "Patientin: Erika Musterfrau, geb. 01.02.1970",
        "Diagnose: fiktiver Befund zu Testzwecken, keine echten Daten.",
        "Empfehlung: Wiedervorstellung in sechs Wochen.",
    ])


@functools.cache
def arztbrief_pdf() -> bytes:
    """The PDF of an eArztbrief (fictitious)."""
    return text_pdf([
        "Arztbrief",
        "Sehr geehrte Kolleginnen und Kollegen,",
        "anbei die angeforderten Unterlagen zu Ihrer Anfrage.",
        "Mit freundlichen Grüßen, Dr. med. Beispiel",
    ])


@functools.cache
def signature_report_pdf() -> bytes:
    """The signature verification report a client module (OpenKIM) attaches."""
    return text_pdf([
        "Signaturprüfbericht",
        "Ergebnis der Prüfung: gültig",
        "Prüfzeitpunkt: 04.03.2024 10:15",
    ])


def cda_xml(kvnr: str | None = KVNR, *, doctype: str | None = None) -> bytes:
    """A minimal CDA R2 eArztbrief header with the KVNR in ``recordTarget``.

    ``doctype`` is inserted verbatim after the XML declaration (for the KIM25 cases).
    """
    patient_id = (
        f'<id root="1.2.276.0.76.4.8" extension="{kvnr}"/>' if kvnr is not None else ""
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + (doctype + "\n" if doctype else "")
        + '<ClinicalDocument xmlns="urn:hl7-org:v3">\n'
        '  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>\n'
        '  <templateId root="1.2.276.0.76.10.1019"/>\n'
        '  <title>Arztbrief</title>\n'
        "  <recordTarget><patientRole>\n"
        f"    {patient_id}\n"
        '    <id root="1.2.276.0.76.4.5" extension="109519005"/>\n'
        "    <patient><name><given>Erika</given><family>Musterfrau</family></name>"
        '<birthTime value="19700201"/></patient>\n'
        "  </patientRole></recordTarget>\n"
        "</ClinicalDocument>\n"
    ).encode()


def xxe_cda() -> bytes:
    """A CDA that pulls a local file in through an external entity (XXE)."""
    return cda_xml(
        KVNR,
        doctype='<!DOCTYPE ClinicalDocument [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    ).replace(b"<title>Arztbrief</title>", b"<title>&xxe;</title>")


def billion_laughs_cda() -> bytes:
    """A CDA with the classic entity-expansion bomb ("billion laughs")."""
    ents = ['<!ENTITY lol "lol">']
    ents += [f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
             for i in range(1, 10)]
    doctype = "<!DOCTYPE ClinicalDocument [" + "".join(ents) + "]>"
    return cda_xml(KVNR, doctype=doctype).replace(
        b"<title>Arztbrief</title>", b"<title>&lol9;</title>"
    )


def _attach(
    msg: EmailMessage, data: bytes, media: str, name: str, *, inline: bool
) -> None:
    maintype, _, subtype = media.partition("/")
    msg.add_attachment(
        data,
        maintype=maintype,
        subtype=subtype or "octet-stream",
        filename=name,
        disposition="inline" if inline else "attachment",
    )


def kim_mail(
    *,
    muster86: bytes | None = _DEFAULT_FORM,
    muster86_media: str = "application/pdf",
    muster86_name: str = "Muster86.pdf",
    documents: list[tuple[str, bytes, str]] | None = None,
    earztbrief: bool = True,
    kvnr: str = KVNR,
    to: str = MD_ADDRESS,
    sender: str = SENDER,
    subject: str = "Angeforderte Unterlagen",
    body: str | None = None,
    decryption: tuple[str, ...] = ("00",),
    integrity: tuple[str, ...] = ("01",),
    message_id: str | None = None,
    inline: bool = False,
    client_notice: bool = False,
    cda: bytes | None = None,
    extra_headers: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """A KIM mail as delivered by the client module (CRLF line ends).

    ``muster86`` defaults to :func:`muster86_pdf` (Aktenzeichen 400000000482041289, MD
    Sachsen, KVNR A123456780); ``None`` leaves the form out. ``documents`` are
    ``(filename, bytes, media type)``; ``None`` gives one Befundbericht PDF, ``[]``
    none. ``earztbrief`` adds the letter PDF and a CDA (``cda`` overrides its bytes).
    ``message_id=None`` generates a Message-ID from the content (stable); ``""`` leaves
    the header out. ``client_notice`` adds the client module's Signaturprüfbericht.
    """
    form = _default_form(kvnr) if muster86 is _DEFAULT_FORM else muster86
    if documents is None:
        documents = [("Befundbericht.pdf", befundbericht_pdf(), "application/pdf")]
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = f"Praxis Dr. Beispiel <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(_DATE)
    msg["MIME-Version"] = "1.0"
    msg["X-KIM-Dienstkennung"] = (
        "Arztbrief;VHitG-Versand;V1.2" if earztbrief else "KIM-Mail;Default;V1.0"
    )
    msg["X-KIM-Sendersystem"] = "KIM-Clientmodul Test 1.0"
    for value in decryption:
        msg["X-KIM-DecryptionResult"] = value
    for value in integrity:
        msg["X-KIM-IntegrityCheckResult"] = value
    for name, value in extra_headers:
        msg[name] = value
    msg.set_content(body if body is not None else "")
    if form is not None:
        _attach(msg, form, muster86_media, muster86_name, inline=inline)
    for name, data, media in documents:
        _attach(msg, data, media, name, inline=inline)
    if earztbrief:
        _attach(msg, arztbrief_pdf(), "application/pdf", "eArztbrief.pdf", inline=inline)
        _attach(msg, cda if cda is not None else cda_xml(kvnr), "text/xml", "eArztbrief.xml",
                inline=inline)
    if client_notice:
        _attach(msg, signature_report_pdf(), "application/pdf", "Signaturpruefbericht.pdf",
                inline=False)
    if message_id is None:
        digest = hashlib.sha256(msg.as_bytes()).hexdigest()[:24]
        message_id = f"<{digest}@arzt.kim.telematik>"
    if message_id:
        msg["Message-ID"] = message_id
    return msg.as_bytes()


def client_module_notice(original: bytes, *, fehlermeldung: str | None = None) -> bytes:
    """The client module's notice mail: a text part and the original as message/rfc822.

    ``fehlermeldung`` adds an ``X-KIM-Fehlermeldung`` header (an error mail).
    """
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = "kim-clientmodul@md-sachsen.kim.telematik"
    msg["To"] = MD_ADDRESS
    msg["Subject"] = "Hinweis des KIM-Clientmoduls"
    msg["Date"] = format_datetime(_DATE)
    msg["Message-ID"] = "<notice-0001@md-sachsen.kim.telematik>"
    msg["X-KIM-DecryptionResult"] = "00"
    if fehlermeldung is not None:
        msg["X-KIM-Fehlermeldung"] = fehlermeldung
    msg.set_content("Die angehängte Nachricht konnte nicht vollständig geprüft werden.")
    inner = message_from_bytes(original, _class=EmailMessage, policy=policy.SMTP)
    msg.add_attachment(inner)
    return msg.as_bytes()


def many_parts_mail(n: int = 10_000) -> bytes:
    """A multipart mail with ``n`` tiny parts (a part bomb), built as text: fast."""
    out = io.BytesIO()
    out.write(
        b"From: " + SENDER.encode() + b"\r\nTo: " + MD_ADDRESS.encode() + b"\r\n"
        b"Subject: viele Teile\r\nMessage-ID: <many@arzt.kim.telematik>\r\n"
        b"X-KIM-DecryptionResult: 00\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    )
    part = b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    out.write(part * n)
    out.write(b"--b--\r\n")
    return out.getvalue()


def huge_mail(mib: float = 15.5) -> bytes:
    """A mail with one attachment of ``mib`` MiB (base64 makes the mail ~4/3 larger)."""
    size = int(mib * 1024 * 1024)
    block = hashlib.sha256(b"huge").digest() * 32  # 1 KiB, not compressible by pattern
    data = b"%PDF-1.4\n" + (block * (size // len(block) + 1))[: size - 9]
    return kim_mail(documents=[("Gross.pdf", data, "application/pdf")], earztbrief=False)


def broken_mime_mail() -> bytes:
    """Invalid base64 in one part and a multipart whose close delimiter is missing."""
    return (
        b"From: " + SENDER.encode() + b"\r\nTo: " + MD_ADDRESS.encode() + b"\r\n"
        b"Subject: kaputt\r\nMessage-ID: <broken@arzt.kim.telematik>\r\n"
        b"X-KIM-DecryptionResult: 00\r\nX-KIM-IntegrityCheckResult: 01\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
        b"--outer\r\nContent-Type: application/pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="Befund.pdf"\r\n\r\n'
        b"JVBERi0xLjQK!!!not*base64===A\r\n"
        b'--outer\r\nContent-Type: multipart/mixed; boundary="inner"\r\n\r\n'
        b"--inner\r\nContent-Type: text/plain\r\n\r\nabgeschnitten\r\n"
    )


def truncated_pdf_mail() -> bytes:
    """A valid mail whose Befundbericht PDF was cut in half (upload aborted)."""
    pdf = befundbericht_pdf()
    return kim_mail(documents=[("Befundbericht.pdf", pdf[: len(pdf) // 2], "application/pdf")])
