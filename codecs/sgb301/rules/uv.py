"""The DGUV rule set for §301-UV (Nachtrag vom 9. November 2016).

Sonderregelung Nr. 12 (error codes 24U01, 34U01–34U15) and Nr. 9 (excluded messages).
Where the seed names a field but not its position, the row says so; the position is a
table entry and can be corrected here alone.
"""

from __future__ import annotations

from ..formats import DATE
from .base import ValueRule

__all__ = ["AMBULANT_ENTGELTART", "EXCLUDED_TYPES", "MIN_VERSION", "UV_RULES", "UV_TEST_IK"]

# Nachtrag Nr. 1: test messages carry exactly this receiver IK; test data the marker TUVK0.
UV_TEST_IK = "120591481"
TEST_MARKER = "TUVK0"

MIN_VERSION = 12  # 24U01: Nachrichtenversion < 12 unzulässig

# Sonderregelung Nr. 9; KAIN/INKA have no DGUV code, so they get Stellwerk codes.
EXCLUDED_TYPES: dict[str, str] = {
    "AMBO": "34U10",
    "ZGUT": "34U11",
    "ZAAO": "34U12",
    "SAMU": "34U13",
    "VERL": "34U14",
    "KAIN": "3SW10",
    "INKA": "3SW11",
}

# [U] "Ambulante Entgelte" (34U06): an ENT whose Entgeltart is an EBM
# Gebührenordnungsposition (5 digits, optional letter) instead of a stationary
# 8-character Entgeltschlüssel. Adjust when the DGUV Fehlerkatalog is at hand.
AMBULANT_ENTGELTART = r"\d{5}[A-Z]?"

UV_RULES: tuple[ValueRule, ...] = (
    # INV-10 carries the Unfalltag or "BK" (seed examples: INV++++++1234567++++20150821).
    ValueRule("34U01", "INV", 10, allowed=rf"{DATE}|BK", required=True),
    ValueRule("34U02", "AUF", 3, allowed=r"0[1-5]\d\d"),
    ValueRule("34U03", "AUF", 3, allowed=r"\d\d02"),
    ValueRule("34U04", "ETL", 3, forbidden=r"059"),
    ValueRule("34U05", "FKT", 1, allowed=r"10|20|3[0-4]|40|41"),
    ValueRule("34U06", "ENT", 1, forbidden=AMBULANT_ENTGELTART),
    # INV-1 Versichertennummer, INV-5 Gültigkeit, INV-2 Versichertenart,
    # INV-3 Besonderer Personenkreis, INV-4 DMP-Teilnahme must stay empty.
    *(ValueRule("34U07", "INV", i, allowed="") for i in (1, 2, 3, 4, 5)),
    ValueRule("34U08", "ZLG", 2, allowed=r"1"),
    # [U] Prüfungsvermerk read from KOS-2 (the seed KOUB carries 01 there).
    ValueRule("34U09", "KOS", 2, allowed=r"0[1-5]|07"),
)
