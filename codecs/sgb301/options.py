"""How to validate: the options of a :class:`sgb301.Validator`.

A plain ``msgspec.Struct`` module of its own, like :mod:`sgb301.model`: the modules
that may be compiled with mypyc (see :mod:`sgb301._native`) define no Structs, since
mypyc drops a Struct's class options (``frozen=True``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import msgspec

from .rules import MODES

__all__ = ["ValidationOptions"]


class ValidationOptions(msgspec.Struct, frozen=True):
    """How to validate.

    ``mode``: ``uv`` (DGUV rules, default) or ``gkv``. ``test``: the sender declares UV
    test operation (receiver IK 120591481 and marker TUVK0 become mandatory).
    ``responsibility``: receiver IK → IK of the UV-Träger actually responsible (34U15).
    ``now``: processing time for "creation later than processing" (None = not checked).
    """

    mode: str = "uv"
    test: bool = False
    responsibility: Mapping[str, str] = {}
    now: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
