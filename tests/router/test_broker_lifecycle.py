"""The embedded broker never outlives the process that started it.

A SIGKILLed ``stellwerk broker`` (or pytest run) cannot run its ``finally``; before the
parent-death signal the Tansu child went on holding its port, and the next start on that
port failed.  These tests kill the parent with SIGKILL and look for the child in ``/proc``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

from router.kafka.broker import EmbeddedBroker, free_port, kafka_answers

STELLWERK = Path(sys.executable).with_name("stellwerk")


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (all its threads), from ``/proc``."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a zombie holds no port)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def _port_free(port: int) -> bool:
    """Nobody listens: connect is refused and a new listener can bind it."""
    if _listening(port):
        return False
    with socket.socket() as s:
        # SO_REUSEADDR as Tansu itself does: TIME_WAIT leftovers don't count, a listener does
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
    return True


def _wait(cond: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def _kill_parent_and_check_child(parent: subprocess.Popen[bytes], port: int) -> None:
    """SIGKILL ``parent`` (which runs one broker on ``port``); the child must follow."""
    assert _wait(lambda: _listening(port), 30), "broker never listened"
    tansu = _children(parent.pid)
    assert len(tansu) == 1, f"expected one broker child, got {tansu}"
    try:
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        gone = _wait(lambda: not _alive(tansu[0]), 5)
        assert gone, f"Tansu (pid {tansu[0]}) survived its parent's SIGKILL"
        assert _wait(lambda: _port_free(port), 5), f"port {port} still taken"
    finally:
        # never leave an orphan behind, whatever the code under test did
        if _alive(tansu[0]):
            os.kill(tansu[0], signal.SIGKILL)


def test_sigkilled_stellwerk_broker_takes_tansu_with_it() -> None:
    port = free_port()
    proc = subprocess.Popen([str(STELLWERK), "broker", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().decode().strip() == f"bootstrap=127.0.0.1:{port}"
        _kill_parent_and_check_child(proc, port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_broker_started_from_a_finished_thread_lives_on_until_its_process_dies() -> None:
    """PR_SET_PDEATHSIG fires when the *thread* that forked dies, not the process: a
    broker started from a worker thread must survive that thread, and still die with
    the process."""
    port = free_port()
    script = textwrap.dedent(f"""
        import threading, time
        from router.kafka.broker import EmbeddedBroker
        b = EmbeddedBroker({port})
        t = threading.Thread(target=b.start)
        t.start(); t.join()
        print("started", flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"started"
        time.sleep(0.5)  # the starting thread is gone by now; a PDEATHSIG would have fired
        assert _listening(port), "broker died with the thread that started it"
        _kill_parent_and_check_child(proc, port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ctrl_c_stops_stellwerk_broker_in_order() -> None:
    """A terminal's Ctrl-C goes to the foreground process group: only ``stellwerk``
    (Tansu has a group of its own), which then stops the broker and exits 0."""
    port = free_port()
    proc = subprocess.Popen([str(STELLWERK), "broker", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # its own group, like a shell job
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().decode().strip() == f"bootstrap=127.0.0.1:{port}"
        tansu = _children(proc.pid)
        assert len(tansu) == 1
        assert os.getpgid(tansu[0]) != os.getpgid(proc.pid), "Tansu in the job's group"
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        assert _wait(lambda: not _alive(tansu[0]), 5)
        assert _wait(lambda: _port_free(port), 5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigkilled_test_process_takes_the_s3_server_and_broker_with_it(
        tmp_path: Path) -> None:
    """The S3-backed broker of the restart tests: ministack and Tansu both follow."""
    router_tests = str(Path(__file__).parent)
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {router_tests!r})
        from pathlib import Path
        from s3broker import S3Broker
        b = S3Broker(Path({str(tmp_path)!r})).start()
        print(b.broker.port, flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    children: list[int] = []
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        children = _children(proc.pid)
        assert len(children) == 2, children  # ministack and Tansu
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert _wait(lambda: not any(map(_alive, children)), 10), "a child survived"
        assert _wait(lambda: _port_free(port), 5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for c in children:
            if _alive(c):
                os.kill(c, signal.SIGKILL)


def test_ready_means_a_kafka_answer_not_an_accepted_connection() -> None:
    """A port that accepts and closes (Tansu on S3 storage while it starts) is not a
    ready broker; the embedded broker's ApiVersions answer is."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        server.settimeout(5)
        def accept_and_close() -> None:
            with contextlib.suppress(OSError):
                conn, _ = server.accept()
                conn.close()

        t = threading.Thread(target=accept_and_close)
        t.start()
        assert not kafka_answers("127.0.0.1", port)
        t.join()
    broker = EmbeddedBroker()
    broker.start()
    try:
        assert kafka_answers("127.0.0.1", broker.port)
    finally:
        broker.stop()
    assert not kafka_answers("127.0.0.1", broker.port)
