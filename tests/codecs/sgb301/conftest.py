"""Fixtures for the ``sgb301`` tests, all built from the published DGUV examples.

Every input here is a seed example (``sgb301.examples``) or a minimal edit of one; the
helpers keep the UNT segment count right when an edit adds or removes segments, so a
test sees exactly the finding it provokes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from sgb301 import (
    MESSAGE_TYPES,
    InterchangeReport,
    MessageVerdict,
    ValidationOptions,
    Validator,
    examples,
    ik_check_digit,
)
from sgb301.message_types import KT_TO_KH

HOSPITAL_IK = examples.HOSPITAL_IK  # 260510223, the hospital of the examples
TEST_IK = examples.TEST_IK  # 120591481, reserved for UV test operation
EXAMPLE_NAMES = tuple(examples.MESSAGES)  # "8.1.1-AUFN" … "8.1.2-RECH"
CONSISTENT = tuple(n for n in EXAMPLE_NAMES if not n.endswith("RECH"))
PUBLISHED_RECH = tuple(n for n in EXAMPLE_NAMES if n.endswith("RECH"))


def valid_ik(first8: str) -> str:
    """A nine-digit IK with the correct check digit for ``first8``."""
    return first8 + str(ik_check_digit(first8))


class Edi:
    """Builders for interchanges derived from the seed examples (pure functions)."""

    HOSPITAL_IK = HOSPITAL_IK
    TEST_IK = TEST_IK

    @staticmethod
    def segments(name: str) -> list[bytes]:
        """The segments of seed message ``name``, terminator included, no line breaks."""
        return examples.message(name).splitlines()

    @staticmethod
    def message(segments: Iterable[bytes], reference: str = "00001") -> bytes:
        """Bare message from ``segments``: the UNH gets ``reference``, the last segment
        is replaced by a UNT with the right count and reference."""
        segs = list(segments)
        assert segs[0].startswith(b"UNH+") and segs[0][9:10] == b"+"
        segs[0] = b"UNH+" + reference.encode("latin-1") + segs[0][9:]
        segs[-1] = f"UNT+{len(segs)}+{reference}'".encode("latin-1")
        return b"\n".join(segs) + b"\n"

    @staticmethod
    def derive(name: str, old: bytes, new: bytes, *, fix_count: bool = True) -> bytes:
        """Seed message ``name`` with the single occurrence of ``old`` replaced by
        ``new``; the UNT count is corrected (for the RECH examples too)."""
        raw = examples.message(name)
        assert raw.count(old) == 1, f"{old!r} occurs {raw.count(old)} times in {name}"
        edited = raw.replace(old, new)
        return Edi.message(edited.splitlines()) if fix_count else edited

    @staticmethod
    def fixed(name: str) -> bytes:
        """Seed message ``name`` with a correct UNT count (repairs the RECH examples)."""
        return Edi.message(Edi.segments(name))

    @staticmethod
    def insert(name: str, index: int, segment: bytes) -> bytes:
        """Seed message with ``segment`` inserted before segment ``index`` (0-based)."""
        segs = Edi.segments(name)
        segs.insert(index, segment)
        return Edi.message(segs)

    @staticmethod
    def drop(name: str, tag: str) -> bytes:
        """Seed message without its segments ``tag``."""
        return Edi.message(s for s in Edi.segments(name) if not s.startswith(tag.encode()))

    @staticmethod
    def interchange(messages: bytes, *, kt: bool | None = None, **kw: str) -> bytes:
        """Wrap bare messages in UNB … UNZ, addressed in their direction.

        ``kt``: sent by the UV side (test IK → hospital); by default taken from the
        first message's type (KOUB and other KT→KH types come back).
        """
        if kt is None:
            mtype = messages[10:14].decode("latin-1")
            kt = mtype in MESSAGE_TYPES and MESSAGE_TYPES[mtype].direction == KT_TO_KH
        if kt:
            return examples.wrap(messages, sender=TEST_IK, receiver=HOSPITAL_IK, **kw)
        return examples.wrap(messages, sender=HOSPITAL_IK, receiver=TEST_IK, **kw)

    @staticmethod
    def valid_ik(first8: str) -> str:
        return valid_ik(first8)


def only_message(report: InterchangeReport) -> MessageVerdict:
    assert not report.file_errors, report.file_errors
    assert len(report.messages) == 1
    return report.messages[0]


@pytest.fixture(scope="session")
def edi() -> type[Edi]:
    """Interchange builders (see :class:`Edi`)."""
    return Edi


@pytest.fixture(scope="session")
def seed_examples() -> dict[str, bytes]:
    """All eight seed examples, each wrapped in its own interchange."""
    return examples.load()


@pytest.fixture(params=EXAMPLE_NAMES)
def seed_example(request: pytest.FixtureRequest, seed_examples: dict[str, bytes]) -> tuple[
    str, bytes
]:
    """Each seed example in turn: (name, interchange)."""
    return request.param, seed_examples[request.param]


@pytest.fixture(params=CONSISTENT)
def consistent_example(request: pytest.FixtureRequest, seed_examples: dict[str, bytes]) -> tuple[
    str, bytes
]:
    """The six published examples that are consistent (AUFN, KOUB, ENTL)."""
    return request.param, seed_examples[request.param]


@pytest.fixture(params=PUBLISHED_RECH)
def published_rech(request: pytest.FixtureRequest, seed_examples: dict[str, bytes]) -> tuple[
    str, bytes
]:
    """The two published RECH examples (their UNT counts are one too low)."""
    return request.param, seed_examples[request.param]


@pytest.fixture(scope="session")
def uv() -> Validator:
    return Validator(ValidationOptions(mode="uv"))


@pytest.fixture(scope="session")
def gkv() -> Validator:
    return Validator(ValidationOptions(mode="gkv"))


@pytest.fixture(scope="session")
def validator() -> Callable[..., Validator]:
    """Factory: ``validator(mode="uv", test=True, responsibility={...})``."""
    return lambda **options: Validator(ValidationOptions(**options))


@pytest.fixture(scope="session")
def single() -> Callable[[InterchangeReport], MessageVerdict]:
    """The only verdict of a report that has no file-level findings."""
    return only_message
