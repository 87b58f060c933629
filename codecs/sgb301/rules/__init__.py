"""Content rules (Prüfstufe 3) per validation mode: ``uv`` (DGUV) and ``gkv``.

>>> rule_set("uv").excluded_types["AMBO"]
'34U10'
"""

from __future__ import annotations

from .base import RuleSet, ValueRule
from .common import CODE_LIST_RULES
from .uv import EXCLUDED_TYPES, MIN_VERSION, TEST_MARKER, UV_RULES, UV_TEST_IK

__all__ = ["MODES", "TEST_MARKER", "UV_TEST_IK", "RuleSet", "ValueRule", "rule_set"]

MODES = ("uv", "gkv")

_SETS = {
    "uv": RuleSet(
        "uv",
        CODE_LIST_RULES + UV_RULES,
        excluded_types=EXCLUDED_TYPES,
        min_version=MIN_VERSION,
        min_version_code="24U01",
        test_operation=True,
    ),
    "gkv": RuleSet("gkv", CODE_LIST_RULES),
}


def rule_set(mode: str) -> RuleSet:
    """The rule set of ``mode`` (``uv`` or ``gkv``); raises KeyError for others."""
    return _SETS[mode]
