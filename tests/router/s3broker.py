"""An embedded broker whose log survives a crash: Tansu on ``s3://`` storage.

* :class:`S3Server` — ``ministack`` (a local AWS emulator from PyPI, S3 only) on a free
  port, objects persisted under a directory of the test's own;
* :class:`S3Broker` — an S3 server, a bucket, and an :class:`~router.kafka.broker.EmbeddedBroker`
  with ``--storage-engine s3://BUCKET/`` on it; :meth:`S3Broker.kill` SIGKILLs the broker
  and :meth:`S3Broker.restart` starts it again on the same port and bucket, so clients
  keep their bootstrap address.

Tansu on this storage keeps topics, records and committed offsets across a SIGKILL;
it produces about 8k records/s here, so keep test volumes small.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from router.kafka.broker import BrokerError, EmbeddedBroker, free_port, spawn_tied

__all__ = ["S3Broker", "S3Server", "s3_broker"]

#: Tansu reads its S3 settings from these (object_store's names); the keys are dummies
#: that ministack accepts without checking (its AUTH is off).
_AWS = {
    "AWS_ALLOW_HTTP": "true",
    "AWS_ACCESS_KEY_ID": "stellwerk",
    "AWS_SECRET_ACCESS_KEY": "stellwerk",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


class S3Server:
    """``python -m ministack`` with S3 only on ``127.0.0.1:port``, data in ``data_dir``."""

    def __init__(self, data_dir: Path, port: int = 0, log_path: Path | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:port`` — Tansu's ``AWS_ENDPOINT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        """Start ministack and wait for its health check."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "GATEWAY_PORT": str(self.port),
            "BIND_HOST": "127.0.0.1",  # default 0.0.0.0: no need to be reachable from outside
            "SERVICES": "s3",
            "S3_PERSIST": "1",  # objects on disk, so ministack itself may restart too
            "S3_DATA_DIR": str(self.data_dir / "s3"),
            # ministack writes its pid file to the temp dir, named by port only
            "TMPDIR": str(self.data_dir),
            "LOG_LEVEL": "WARNING",
        }
        log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        try:
            self._proc = spawn_tied([sys.executable, "-m", "ministack"], env=env, output=log)
        finally:
            if log is not None:
                log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(f"ministack exited with code {self._proc.returncode}"
                                  f" (log: {self.log_path})")
            with contextlib.suppress(OSError):
                if self._request("GET", "/_ministack/health") == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise BrokerError(f"ministack not healthy on {self.endpoint} in {timeout}s")

    def _request(self, method: str, path: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(method, path)
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    def create_bucket(self, name: str) -> None:
        """``PUT /name`` (path-style); an existing bucket of ours is fine."""
        status = self._request("PUT", f"/{name}")
        if status not in (200, 409):
            raise BrokerError(f"creating bucket {name!r} on {self.endpoint}: HTTP {status}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=10)


class S3Broker:
    """ministack + bucket + Tansu on ``s3://bucket/``, all under ``workdir``."""

    def __init__(self, workdir: Path, bucket: str = "tansu") -> None:
        self.workdir = workdir
        self.bucket = bucket
        self.s3 = S3Server(workdir / "ministack", log_path=workdir / "ministack.log")
        self.broker = EmbeddedBroker(
            log_path=workdir / "tansu.log", storage=f"s3://{bucket}/",
            env={**_AWS, "AWS_ENDPOINT": self.s3.endpoint})

    @property
    def bootstrap(self) -> str:
        """The broker's address (the same after :meth:`restart`)."""
        return self.broker.bootstrap

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self.broker.pid

    def start(self) -> S3Broker:
        """S3 server, bucket, broker."""
        self.s3.start()
        self.s3.create_bucket(self.bucket)
        self.broker.start()
        return self

    def kill(self) -> None:
        """SIGKILL the broker (a crash: nothing flushed or closed in order)."""
        self.broker.kill()

    def restart(self) -> None:
        """Start the broker again (killed or stopped) on the same port and bucket."""
        self.broker.kill()
        self.broker.start()

    def stop(self) -> None:
        """Broker, then S3 server."""
        try:
            self.broker.stop()
        finally:
            self.s3.stop()

    def log_tail(self, lines: int = 20) -> str:
        """The end of the broker's log, for failure messages."""
        path = self.workdir / "tansu.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def s3_broker(workdir: Path, bucket: str = "tansu") -> Iterator[S3Broker]:
    """A started :class:`S3Broker`; everything stopped afterwards, even on failure."""
    b = S3Broker(workdir, bucket)
    try:
        yield b.start()
    finally:
        b.stop()
