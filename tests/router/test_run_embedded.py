"""``stellwerk run`` without bootstrap servers starts the embedded broker and says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def test_run_without_bootstrap_starts_the_embedded_broker(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STELLWERK_")}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "router.cli", "run"], stdout=out,
                                stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and b"routing s301:" not in (
                    log.read_bytes()):
                assert proc.poll() is None, log.read_text()
                time.sleep(0.2)
            text = log.read_text()
            assert "started the embedded broker at 127.0.0.1:" in text
            assert "routing s301: s301.inbound, stellwerk.replay (mode uv" in text
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "stopped after 0 records" in log.read_text()
