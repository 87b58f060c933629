"""Compile the per-message path with mypyc (the compiled core, see ``sgb301._native``).

    python deploy/build_native.py            # into build/native (or $STELLWERK_NATIVE_DIR)
    python deploy/build_native.py --check    # only say whether the build matches

Run from the checkout's root by ``make bootstrap`` and by the container build. Skips the
work when the build already matches the sources. The result is all or nothing: the
compiled modules are moved into place first and the manifest (source digests, the
interpreter) written last, so an interrupted or failed build leaves no manifest and the
package stays pure Python. Needs a C compiler and the Python headers; without them it
says so and exits 1, and the package still works, in pure Python.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "codecs" / "sgb301"
#: The sources compiled: this checkout's (the build may run where they are not installed).
ROOTS = {"sgb301": PACKAGE, "router": ROOT / "router"}


def _load_native() -> ModuleType:
    """``sgb301._native`` (module list, manifest) on its own: it needs only the standard
    library, so this script runs where sgb301's dependencies are not installed (the
    container build compiles with a Python of its own)."""
    spec = importlib.util.spec_from_file_location("sgb301_native", PACKAGE / "_native.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_native = _load_native()


def build(out: Path, *, quiet: bool = True, python: str | None = None) -> None:
    """Compile :data:`_native.MODULES` into ``out`` (replacing what is there).

    ``python``: the interpreter whose installed packages (msgspec, …) mypy reads the
    types from, when this one has only mypy and setuptools."""
    from mypyc.build import mypycify  # noqa: PLC0415 - dev dependencies, only here
    from setuptools import setup  # noqa: PLC0415

    manifest = _native.manifest_for(ROOTS)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="native-", dir=out.parent) as tmp:
        work = Path(tmp)
        # mypy reads the project's configuration (mypy_path "codecs:.") from the root,
        # so the modules get their package names (sgb301.ik, router.families.s301).
        # Errors in modules that are only read for their types (kimmail without the dev
        # group's lxml stubs, in the container build) are `make lint`'s business, not
        # the compiler's: follow imports silently.
        paths = ["--follow-imports=silent", *(["--python-executable", python] if python else []),
                 *(str(_native.source_of(m, ROOTS).relative_to(ROOT)) for m in _native.MODULES)]
        extensions = mypycify(paths, opt_level="3", group_name=_native.GROUP,
                              target_dir=str(work / "c"))
        args = ["build_ext", "--build-lib", str(work / "lib"), "--build-temp", str(work / "temp")]
        # setuptools would read the project's pyproject.toml in the working directory
        # and try to build the whole project: build from the empty temporary one.
        os.chdir(work)
        try:
            setup(name="stellwerk-native", ext_modules=extensions, packages=[],
                  script_args=["--quiet", *args] if quiet else args)
        finally:
            os.chdir(ROOT)
        if _native.manifest_for(ROOTS) != manifest:
            raise SystemExit("build_native: sources changed during the build; run it again")
        lib = work / "lib"
        built = {str(p.relative_to(lib)).split(".", 1)[0].replace("/", "."): p
                 for p in lib.rglob("*.so")}
        missing = {*_native.MODULES, _native.GROUP + "__mypyc"} - set(built)
        if missing:
            raise SystemExit(f"build_native: not built: {', '.join(sorted(missing))}")
        (out / _native.MANIFEST).unlink(missing_ok=True)  # invalid until the end
        for top in {m.split(".")[0] for m in built}:
            shutil.rmtree(out / top, ignore_errors=True)
        for p in built.values():
            target = out / p.relative_to(lib)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(p, target)
        (out / _native.MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None,
                        help=f"target directory (default ${_native.ENV_DIR} or build/native)")
    parser.add_argument("--check", action="store_true",
                        help="only report whether a matching build exists (exit 0 if so)")
    parser.add_argument("--force", action="store_true", help="rebuild even if it matches")
    parser.add_argument("--python-executable", default=None,
                        help="the Python whose packages mypy reads types from")
    parser.add_argument("--verbose", action="store_true", help="show the compiler's output")
    args = parser.parse_args(argv)
    out = (args.out or _native.default_dir()).resolve()
    found, why = _native.status(out, ROOTS)
    if args.check or (found is not None and not args.force):
        print(f"compiled core: {why}")
        return 0 if found is not None else 1
    t0 = time.monotonic()
    try:
        build(out, quiet=not args.verbose, python=args.python_executable)
    except (Exception, SystemExit) as exc:  # no compiler, no headers: pure Python stays
        print(f"compiled core: build failed ({exc}); everything runs in pure Python",
              file=sys.stderr)
        return 1
    print(f"compiled core: built {len(_native.MODULES)} modules into {out} "
          f"in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
