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
    # KIM: every mail on its topic, the held one released to its case afterwards
    for topic in ("kim.notices", "kim.quarantine", "kim.unmatched", "md.fall.a", "md.fall.b",
                  "md.fall.c"):
        assert f"| {topic}" in out
    # the KIM table has two columns: mail, topics
    rows = {cells[1].strip(): cells[2].strip() for cells in
            (line.split("|") for line in out.splitlines()) if len(cells) == 4}
    assert rows["Muster 86 scanned as JPEG, rotated 90°, case B (mima.cases)"] == "md.fall.b"
    assert rows["Muster 86 for case C, not known yet: held, then released"] == (
        "kim.unmatched → md.fall.c → kim.unmatched (tombstone)")
    assert "ERROR" not in r.stderr.decode()
