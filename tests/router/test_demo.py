"""``stellwerk demo`` — the README's main job — runs end to end and loses nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_accounts_for_every_input() -> None:
    r = subprocess.run([sys.executable, "-m", "router.cli", "demo"], capture_output=True,
                       timeout=180, check=False)
    out = r.stdout.decode()
    assert r.returncode == 0, (out, r.stderr.decode()[-2000:])
    assert "all inputs accounted for" in out
    for topic in ("s301.rejected", "s301.replies", "s301.test", "s301.unroutable",
                  "stellwerk.dlq", "uv.bghw"):
        assert f"| {topic}" in out
