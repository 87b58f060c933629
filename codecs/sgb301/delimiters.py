"""EDIFACT service characters and the optional UNA service string advice.

§301 uses ``UNA:+,? '``: component ``:``, data element ``+``, decimal mark ``,``,
release ``?``, reserved blank, segment terminator ``'``. A file may restate them in a
leading UNA (exactly nine characters); anything else is a stage-1 error.

>>> DEFAULT.terminator
b"'"
"""

from __future__ import annotations

import msgspec

__all__ = ["DEFAULT", "Delimiters", "una_problems"]


class Delimiters(msgspec.Struct, frozen=True):
    """The six service characters, each a one-byte ``bytes``."""

    component: bytes = b":"
    element: bytes = b"+"
    decimal: bytes = b","
    release: bytes = b"?"
    reserved: bytes = b" "
    terminator: bytes = b"'"

    @property
    def separators(self) -> tuple[bytes, bytes, bytes, bytes]:
        """The four characters that structure data: component, element, release, terminator."""
        return (self.component, self.element, self.release, self.terminator)

    def una(self) -> bytes:
        """The UNA segment that states these delimiters."""
        return (
            b"UNA"
            + self.component
            + self.element
            + self.decimal
            + self.release
            + self.reserved
            + self.terminator
        )


DEFAULT = Delimiters()

# UNA may use special characters only: no letters, digits, umlauts or control bytes.
_SPECIAL = frozenset(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ ")


def una_problems(una: bytes) -> tuple[Delimiters | None, list[tuple[str, int]]]:
    """Read a UNA segment (``una``: its nine bytes, starting with ``b"UNA"``).

    Returns the delimiters (``None`` if unusable) and a list of (project error code,
    byte offset) for every rule of the GKV error list the UNA breaks.
    """
    problems: list[tuple[str, int]] = []
    if len(una) < 9:
        return None, [("1SW02", len(una))]
    chars = una[3:9]
    if chars[4:5] != b" ":
        problems.append(("1SW03", 7))
    for i, c in enumerate(chars):
        if c not in _SPECIAL:
            problems.append(("1SW04", 3 + i))
            break
    functional = (chars[0], chars[1], chars[2], chars[3], chars[5])
    if len(set(functional)) != len(functional):
        problems.append(("1SW05", 3))
    if problems:
        return None, problems
    b = [chars[i : i + 1] for i in range(6)]
    return Delimiters(b[0], b[1], b[2], b[3], b[4], b[5]), problems
