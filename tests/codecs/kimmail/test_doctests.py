"""The examples in the docstrings of ``kimmail`` (outside ``muster86``) run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "kimmail", "kimmail.analyse", "kimmail.cda", "kimmail.config", "kimmail.errors",
    "kimmail.headers", "kimmail.kvnr", "kimmail.mime", "kimmail.model", "kimmail.reasons",
    "kimmail.roles",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
