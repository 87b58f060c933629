"""The CDA R2 header of an eArztbrief: is it a CDA, and whose KVNR does it carry.

The parser resolves no entities, loads no DTD, opens no network and refuses huge
trees; on top of that any ``<!DOCTYPE`` or ``<!ENTITY`` in the bytes is refused
outright (KIM25), so XXE and entity-expansion bombs never reach lxml's tree builder.
"""

from __future__ import annotations

import re

import msgspec
from lxml import etree

from .errors import CdaError
from .kvnr import kvnr_valid

__all__ = ["HL7_NS", "KVNR_ROOT", "CdaInfo", "is_cda", "read_cda"]

HL7_NS = "urn:hl7-org:v3"
KVNR_ROOT = "1.2.276.0.76.4.8"
_ROOT_TAG = f"{{{HL7_NS}}}ClinicalDocument"
_DECL = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_NS = {"h": HL7_NS}
_KVNR_XPATH = f"h:recordTarget/h:patientRole/h:id[@root='{KVNR_ROOT}']/@extension"


class CdaInfo(msgspec.Struct, frozen=True):
    """What the codec takes from a CDA: every KVNR of its recordTargets (usually one).

    ``invalid`` are those among ``kvnrs`` whose form or check digit is wrong (KIM12).
    """

    kvnrs: tuple[str, ...]
    invalid: tuple[str, ...]


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )


def _utf16_ascii(data: bytes) -> bytes:
    """A UTF-16 document's ASCII view, so the declaration check sees ``<!DOCTYPE``."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or data[:2] in (b"<\x00", b"\x00<"):
        return data.replace(b"\x00", b"")
    return data


def has_declarations(data: bytes) -> bool:
    """Whether the bytes contain a DOCTYPE or ENTITY declaration (KIM25)."""
    return _DECL.search(_utf16_ascii(data)) is not None


def _root(data: bytes) -> etree._Element:
    if has_declarations(data):
        raise CdaError("DOCTYPE or ENTITY declaration", code="KIM25")
    try:
        return etree.fromstring(data, parser=_parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise CdaError(f"XML not well-formed: {type(exc).__name__}", code="KIM26") from None


def is_cda(data: bytes) -> bool:
    """Whether ``data`` is XML whose root is ``ClinicalDocument`` in ``urn:hl7-org:v3``.

    A document with declarations counts as CDA when its root tag says so (checked on
    the text, not parsed), so it gets the role ``cda`` and the KIM25 finding.
    """
    if has_declarations(data):
        return re.search(rb"<\s*([A-Za-z_][\w.-]*:)?ClinicalDocument[\s>/]", data) is not None
    try:
        root = _root(data)
    except CdaError:
        return False
    return root.tag == _ROOT_TAG


def read_cda(data: bytes) -> CdaInfo:
    """The KVNR of the CDA's recordTarget; :class:`CdaError` (KIM25/KIM26) if refused."""
    root = _root(data)
    if root.tag != _ROOT_TAG:
        raise CdaError("not a CDA document", code="KIM26")
    found = root.xpath(_KVNR_XPATH, namespaces=_NS)
    values = [str(v).strip() for v in found] if isinstance(found, list) else []
    kvnrs = tuple(dict.fromkeys(values))
    return CdaInfo(kvnrs=kvnrs, invalid=tuple(k for k in kvnrs if not kvnr_valid(k)))
