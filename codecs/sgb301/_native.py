"""The compiled core: ``sgb301``'s hot modules built with mypyc, used only when the
build matches these sources exactly; pure Python otherwise.

``make bootstrap`` (and the container build) compiles :data:`MODULES` with
``deploy/build_native.py`` into a directory of their own (default
``<checkout>/build/native``, or ``$STELLWERK_NATIVE_DIR``), beside a manifest with the
SHA-256 of every source it compiled and the interpreter it compiled for. When the
package is imported, :func:`activate` puts that directory first on ``sgb301.__path__``
if, and only if, every digest still matches: an edited source makes the whole package
fall back to pure Python (a stale compiled module never runs), and so does
``STELLWERK_PURE=1`` (the tests compare both). The compiled modules behave exactly as
the sources: same functions, same results, only faster.

Modules that define ``msgspec.Struct`` classes (``model``, ``options``, ``formats``,
``delimiters``, ``layouts``) and :class:`sgb301.fields.Fields` are never compiled: mypyc
drops a Struct's class options (``frozen=True``), and ``Fields`` is filled through its
``__dict__``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import MutableSequence
from pathlib import Path

__all__ = ["ENV_DIR", "ENV_PURE", "MANIFEST", "MODULES", "activate", "manifest_for", "status"]

#: Compiled together, in one shared library (calls between them are direct C calls).
MODULES = ("ik", "tokenizer", "serializer", "checker", "fastpath", "validator", "replies")
#: The shared library of the group: ``sgb301/_native_lib__mypyc…so``.
GROUP = "sgb301._native_lib"
ENV_DIR = "STELLWERK_NATIVE_DIR"
ENV_PURE = "STELLWERK_PURE"
MANIFEST = "manifest.json"

_PACKAGE = Path(__file__).resolve().parent


def default_dir() -> Path:
    """Where the build goes: ``$STELLWERK_NATIVE_DIR``, else ``build/native`` of the
    checkout this package lives in."""
    env = os.environ.get(ENV_DIR)
    return Path(env) if env else _PACKAGE.parents[1] / "build" / "native"


def manifest_for(package: Path = _PACKAGE) -> dict[str, object]:
    """What a build of ``package``'s sources for this interpreter must record."""
    return {
        "python": sys.implementation.cache_tag,
        "sources": {m: hashlib.sha256((package / f"{m}.py").read_bytes()).hexdigest()
                    for m in MODULES},
    }


def status(native: Path | None = None, package: Path = _PACKAGE) -> tuple[Path | None, str]:
    """The directory holding a usable build (its ``sgb301`` folder), or None, and why."""
    if os.environ.get(ENV_PURE, "") not in ("", "0"):
        return None, f"{ENV_PURE} is set"
    root = native or default_dir()
    try:
        recorded = json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        return None, f"no compiled build in {root}"
    except (OSError, ValueError) as exc:
        return None, f"unreadable manifest in {root}: {exc}"
    if recorded != manifest_for(package):
        return None, f"the build in {root} is stale (sources or interpreter changed)"
    return root / "sgb301", f"compiled ({len(MODULES)} modules, {root})"


def activate(path: MutableSequence[str]) -> tuple[bool, str]:
    """Put a matching build first on the package's ``__path__``; whether it did, and why.

    Called by ``sgb301/__init__.py`` before any of :data:`MODULES` is imported.
    """
    found, why = status()
    if found is None:
        return False, f"pure Python: {why}"
    path.insert(0, str(found))
    return True, why
