"""The published DGUV example messages (seed 004, Anlage 8.1), wrapped in interchanges.

The message texts are exactly as published (markdown artefacts such as ``[13](#)``
removed, nothing else changed); each is wrapped in its own UNB … UNZ interchange marked
as UV test data (application reference ``TUVK0…``), because the examples are the
DGUV test cases. Two of them are inconsistent as published (RECH segment counts), and
the validator says so.

>>> sorted(load())[:2]
['8.1.1-AUFN', '8.1.1-ENTL']
"""

from __future__ import annotations

from importlib import resources

__all__ = ["MESSAGES", "load", "message", "wrap"]

# example id → file name of the bare message (as published)
MESSAGES = {
    f"{case}-{kind}": f"uv_{case.replace('.', '_')}_{kind.lower()}.edi"
    for case in ("8.1.1", "8.1.2")
    for kind in ("AUFN", "KOUB", "ENTL", "RECH")
}

HOSPITAL_IK = "260510223"
TEST_IK = "120591481"


def wrap(messages: bytes, *, sender: str, receiver: str, reference: str = "00001",
         application_reference: str = "TUVK0001", prepared: str = "151127:1200") -> bytes:
    """Wrap bare messages in UNB … UNZ with a correct message count."""
    count = messages.count(b"UNH+")
    head = (f"UNB+UNOC:3+{sender}+{receiver}+{prepared}+{reference}++"
            f"{application_reference}'").encode("latin-1")
    return head + messages + f"UNZ+{count}+{reference}'".encode("latin-1")


def message(example: str) -> bytes:
    """The bare published message ``example`` (e.g. ``"8.1.1-AUFN"``), one segment a line."""
    return resources.files(__package__).joinpath(MESSAGES[example]).read_bytes()


def load() -> dict[str, bytes]:
    """Every example as an interchange, addressed in its direction (KOUB comes back)."""
    out = {}
    for example in MESSAGES:
        if example.endswith("KOUB"):
            out[example] = wrap(message(example), sender=TEST_IK, receiver=HOSPITAL_IK)
        else:
            out[example] = wrap(message(example), sender=HOSPITAL_IK, receiver=TEST_IK)
    return out
