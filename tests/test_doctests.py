"""The examples in the docstrings of sgb301, kimmail and router run and hold."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import kimmail
import router
import sgb301


def _modules() -> list[str]:
    names = []
    for pkg in (sgb301, kimmail, router):
        names.append(pkg.__name__)
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")
                  if not m.name.endswith(".__main__")]
    return names


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
