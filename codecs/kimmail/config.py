"""Configuration of the KIM codec: limits, the receiving MD, the form reader's limits.

All records are frozen ``msgspec.Struct``s, so a router can decode them from its config
file with ``msgspec.convert`` and pass them to worker processes unchanged.
"""

from __future__ import annotations

import msgspec

from .muster86 import FormLimits

__all__ = ["KimConfig", "KimLimits", "MdConfig"]


class KimLimits(msgspec.Struct, frozen=True):
    """Bounds checked before and while a mail is parsed.

    ``max_bytes`` is checked on the raw mail before parsing (KIM20); ``max_parts``
    first by a cheap scan of boundary lines, then while walking (KIM21); ``max_depth``
    counts nesting of multipart and ``message/rfc822`` containers (KIM22);
    ``max_part_bytes`` bounds one decoded part (KIM23).
    """

    max_bytes: int = 16 * 1024 * 1024
    max_parts: int = 200
    max_depth: int = 5
    max_part_bytes: int = 16 * 1024 * 1024


class MdConfig(msgspec.Struct, frozen=True):
    """The receiving Medizinischer Dienst.

    ``region`` is compared with the MD names read from the Muster 86 address block
    (KIM07); ``address`` must be among To/Cc (KIM08). ``aktenzeichen_pattern`` is the
    MiMa-Aktenzeichen as a regex (full match); ``sources`` lists where it may be taken
    from (``"pdf-text"``, ``"barcode"``, ``"ocr"``, ``"subject"``). ``integrity_ok``
    lists the accepted ``X-KIM-IntegrityCheckResult`` values. ``require_form`` makes the
    Muster 86 mandatory (KIM01), as the MD Sachsen guidance does.
    """

    name: str = "MD Sachsen"
    region: str = "Sachsen"
    address: str = "befunde@md-sachsen.kim.telematik"
    aktenzeichen_pattern: str = "[0-9]{18}"
    sources: tuple[str, ...] = ("pdf-text", "barcode", "ocr")
    integrity_ok: tuple[str, ...] = ("01",)
    require_form: bool = True


class KimConfig(msgspec.Struct, frozen=True):
    """Everything :func:`~kimmail.analyse` needs besides the mail."""

    md: MdConfig = MdConfig()
    limits: KimLimits = KimLimits()
    form: FormLimits = FormLimits()
