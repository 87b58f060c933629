"""The compiled core: ``sgb301``'s hot modules and the router's §301 family built with
mypyc, used only when the build matches these sources exactly; pure Python otherwise.

``make bootstrap`` (and the container build) compiles :data:`MODULES` with
``deploy/build_native.py`` into a directory of their own (default
``<checkout>/build/native``, or ``$STELLWERK_NATIVE_DIR``), beside a manifest with the
SHA-256 of every source it compiled and the interpreter it compiled for. When a package
is imported, :func:`activate` puts its folder of that build first on the package's
``__path__`` if, and only if, every digest still matches: one edited source makes
everything fall back to pure Python (a stale compiled module never runs, and the
compiled modules, one shared library, are used all together or not at all), and so does
``STELLWERK_PURE=1`` (the tests compare both). The compiled modules behave exactly as
the sources: same functions, same results, only faster.

Modules that define ``msgspec.Struct`` classes (``model``, ``options``, ``formats``,
``delimiters``, ``layouts``) are never compiled: mypyc drops a Struct's class options
(``frozen=True``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Mapping, MutableSequence
from functools import cache
from pathlib import Path

__all__ = ["ENV_DIR", "ENV_PURE", "GROUP", "MANIFEST", "MODULES", "activate", "default_dir",
           "manifest_for", "source_of", "source_roots", "status"]

#: Compiled together, in one shared library (calls between them are direct C calls):
#: the codec's per-message path and the router family that drives it per record.
MODULES = (
    "sgb301.ik", "sgb301.fields", "sgb301.tokenizer", "sgb301.serializer", "sgb301.checker",
    "sgb301.fastpath", "sgb301.validator", "sgb301.replies", "router.families.s301",
)
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


def source_roots() -> dict[str, Path]:
    """The directory of each top-level package in :data:`MODULES` (found, not imported:
    this runs while ``sgb301`` itself is being imported)."""
    roots = {"sgb301": _PACKAGE}
    spec = importlib.util.find_spec("router")
    if spec is not None and spec.submodule_search_locations:
        roots["router"] = Path(next(iter(spec.submodule_search_locations)))
    return roots


def source_of(module: str, roots: Mapping[str, Path]) -> Path:
    """The ``.py`` file of ``module`` under ``roots``.

    >>> source_of("sgb301.ik", {"sgb301": Path("/x/sgb301")}).as_posix()
    '/x/sgb301/ik.py'
    """
    top, *rest = module.split(".")
    return roots[top].joinpath(*rest).with_suffix(".py")


def manifest_for(roots: Mapping[str, Path] | None = None) -> dict[str, object]:
    """What a build of the sources under ``roots`` for this interpreter must record."""
    found = source_roots() if roots is None else roots
    return {
        "python": sys.implementation.cache_tag,
        "sources": {m: hashlib.sha256(source_of(m, found).read_bytes()).hexdigest()
                    if m.split(".")[0] in found else None for m in MODULES},
    }


def status(native: Path | None = None, roots: Mapping[str, Path] | None = None
           ) -> tuple[Path | None, str]:
    """The root of a usable build, or None, and why."""
    if os.environ.get(ENV_PURE, "") not in ("", "0"):
        return None, f"{ENV_PURE} is set"
    root = native or default_dir()
    try:
        recorded = json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        return None, f"no compiled build in {root}"
    except (OSError, ValueError) as exc:
        return None, f"unreadable manifest in {root}: {exc}"
    if recorded != manifest_for(roots):
        return None, f"the build in {root} is stale (sources or interpreter changed)"
    return root, f"compiled ({len(MODULES)} modules, {root})"


@cache
def _verdict() -> tuple[Path | None, str]:
    """One verdict per process, for every package: all compiled or none."""
    return status()


def activate(path: MutableSequence[str], package: str) -> tuple[bool, str]:
    """Put the build's folder of ``package`` first on its ``__path__``; whether it did,
    and why (or why not).

    Called by the packages holding :data:`MODULES` before any of them is imported.
    """
    root, why = _verdict()
    if root is None:
        return False, f"pure Python: {why}"
    path.insert(0, str(root.joinpath(*package.split("."))))
    return True, why
