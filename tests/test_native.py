"""The compiled core (mypyc, :mod:`sgb301._native`: the codec's hot modules and the
router's §301 family) gives exactly the pure-Python results, and a build that does not
match the sources is never used.

The equality test runs this file as a script twice, once with ``STELLWERK_PURE=1``: each
run validates the same inputs (generated corpora with and without defects, the seed
examples, thousands of random byte mutations of them; modes uv and gkv, with and without
test operation), builds the replies, tokenizes and decodes, routes every input through
the router's pipeline (as sent and as production traffic), and hashes every report,
reply, token, decoded message, output record and error (type and text, so positions
count too).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

import sgb301
from router.blobstore import MemoryBlobStore
from router.config import load_config
from router.core.records import InRecord
from router.core.tables import RoutingTable
from router.families import build_pipeline
from sgb301 import ReplyError, ValidationOptions, Validator, _native, decode, scan, tokenize
from sgb301.replies import build_reply

ROOT = Path(__file__).resolve().parents[1]
_NOW = dt.datetime(2026, 12, 7, 12, 0)
_SERVICE = [b"+", b":", b"'", b"?", b"UNH+", b"UNT+", b"UNZ+", b"UNA:+,? '", b"\n", b"?'",
            b"\xe4", b"\x00", b"9" * 30]


def _inputs(seed: int = 301) -> Iterator[bytes]:
    """Generated interchanges (1 and 5 messages, a third faulty, some with release
    characters and line breaks), the seed examples, and random mutations of both."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT / "tests" / "codecs" / "sgb301"))
    from corpus import build_corpus, with_defects  # noqa: PLC0415 - sibling script
    from test_edifact_fuzz import CORPUS  # noqa: PLC0415 - its real interchanges

    generated = [*build_corpus(600, 1, seed), *build_corpus(1000, 5, seed + 1,
                                                            released_share=0.2,
                                                            line_breaks=True)]
    base = [*generated, *with_defects(generated, 1 / 3), *CORPUS]
    yield from base
    rng = random.Random(seed)
    for _ in range(3000):
        data = bytearray(rng.choice(base))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(data) + 1)
            kind = rng.random()
            if kind < 0.4 and at < len(data):  # a changed byte
                data[at] = rng.choice(b"0123456789AZaz+:'? \xe4\n")
            elif kind < 0.7:  # a service character or tag
                data[at:at] = rng.choice(_SERVICE)
            else:  # a cut
                del data[at : at + rng.randint(1, 40)]
        yield bytes(data)


def _fold(h: hashlib._Hash, obj: object) -> None:
    h.update(msgspec.json.encode(obj) if not isinstance(obj, bytes) else obj)
    h.update(b"\x1e")


def digest() -> dict[str, object]:
    """What the codec makes of every input, hashed, and whether it ran compiled."""
    validators = [Validator(ValidationOptions(mode=mode, test=test))
                  for mode in ("uv", "gkv") for test in (False, True)]
    carrier = "12039000" + str(sgb301.ik_check_digit("12039000"))  # a production carrier
    config = load_config(None, env={"STELLWERK_ROUTES": json.dumps({carrier: "uv.carrier"})})
    pipeline = build_pipeline(config, RoutingTable(config.routes), MemoryBlobStore())
    h, n = hashlib.sha256(), 0
    for data in _inputs():
        n += 1
        production = data.replace(b"++TUVK0001'", b"++EUVK0001'").replace(
            b"+120591481", b"+" + carrier.encode())
        for value in (data, production):
            rec = InRecord(config.topics.inbound, 0, n, None, value, 1_796_680_000_000)
            _fold(h, pipeline.process(rec))
        ic = scan(data)
        _fold(h, ic)
        try:
            _fold(h, list(tokenize(data)))
        except sgb301.Sgb301Error as exc:
            _fold(h, [type(exc).__name__, str(exc)])
        for span in ic.messages:
            _fold(h, decode(data, span, ic.delimiters))
        for v in validators:
            report = v.validate(data)
            _fold(h, report)
            try:
                reply = build_reply(data, report, now=_NOW, mode=v.options.mode)
            except ReplyError as exc:
                _fold(h, [type(exc).__name__, str(exc)])
            else:
                _fold(h, reply)
    return {"native": sgb301.NATIVE, "inputs": n, "sha256": h.hexdigest()}


def _run(pure: bool) -> dict[str, object]:
    env = {**os.environ, _native.ENV_PURE: "1" if pure else ""}
    out = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True,
                         timeout=600, check=True, cwd=ROOT)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_compiled_core_gives_the_pure_results() -> None:
    compiled, pure = _run(pure=False), _run(pure=True)
    assert pure["native"] is False
    if not compiled["native"]:
        pytest.skip(f"no compiled core to compare: {_native.status()[1]}")
    assert compiled["inputs"] == pure["inputs"] > 4000
    assert compiled["sha256"] == pure["sha256"]


def test_a_build_runs_only_for_the_sources_it_was_made_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(_native.ENV_PURE, raising=False)  # the pure run of the suite
    roots = {}
    for name, source in _native.source_roots().items():
        roots[name] = tmp_path / "src" / name
        shutil.copytree(source, roots[name], ignore=shutil.ignore_patterns("__pycache__"))
    native = tmp_path / "native"
    native.mkdir()
    (native / _native.MANIFEST).write_text(json.dumps(_native.manifest_for(roots)))
    assert _native.status(native, roots)[0] == native

    # one edited source, in either package, and nothing compiled is used
    for module in ("sgb301.fastpath", "router.families.s301"):
        source = _native.source_of(module, roots)
        original = source.read_text()
        source.write_text(original + "\n# edited\n")
        found, why = _native.status(native, roots)
        assert found is None
        assert "stale" in why
        source.write_text(original)
        assert _native.status(native, roots)[0] == native
    assert _native.status(tmp_path / "nowhere", roots)[0] is None


def test_pure_mode_is_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    native = tmp_path / "native"
    native.mkdir()
    (native / _native.MANIFEST).write_text(json.dumps(_native.manifest_for()))
    monkeypatch.setenv(_native.ENV_PURE, "1")
    assert _native.status(native) == (None, f"{_native.ENV_PURE} is set")
    monkeypatch.setenv(_native.ENV_PURE, "0")
    assert _native.status(native)[0] == native


def test_the_packages_run_the_build_they_report() -> None:
    import router.families.s301  # noqa: PLC0415

    found, _ = _native.status()
    assert sgb301.NATIVE is (found is not None)
    for module in (sgb301.validator, router.families.s301):
        assert Path(module.__file__ or "").suffix == (".so" if sgb301.NATIVE else ".py")
    assert sgb301.NATIVE_STATUS.startswith("compiled" if sgb301.NATIVE else "pure Python")


if __name__ == "__main__":
    print(json.dumps(digest()))
