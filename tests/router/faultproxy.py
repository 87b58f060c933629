"""A TCP fault proxy between Kafka clients and the embedded broker, for fault tests.

:class:`FaultProxy` listens on ``127.0.0.1:port`` and forwards every connection to the
broker.  It runs an asyncio loop in a background thread, so sync tests, ``asyncio.run``
scenarios and routers running as subprocesses (they just connect to its port) can all use
it; its control methods are thread-safe and take effect before they return.

Faults:

* :meth:`FaultProxy.latency` — delay every chunk by ``ms`` per direction (``up``:
  client → broker, ``down``: broker → client), order kept;
* :meth:`FaultProxy.cut` — close all current connections now (new ones are accepted);
* :meth:`FaultProxy.blackhole` — a frozen network: connections are accepted and kept, but
  nothing is forwarded in either direction.  Data is held, not dropped, as TCP would
  retransmit it once the network heals: after :meth:`FaultProxy.restore` it flows on
  (unless a side gave up and closed meanwhile);
* :meth:`FaultProxy.refuse` — close each new connection at once (current ones go on);
* :meth:`FaultProxy.restore` — no latency, no black hole, accept again.

:meth:`FaultProxy.stats` gives counters (connections accepted, open, refused, bytes per
direction).

For every client connection to go through the proxy, the broker must advertise the
proxy's address: :func:`proxied_broker` starts an :class:`~router.kafka.broker.EmbeddedBroker`
that way (and is what the ``proxied_broker`` fixture of ``tests/conftest.py`` yields).
A router under test, even as a subprocess, only needs ``bootstrap=pb.bootstrap``
(e.g. ``RouterProcess(pb.bootstrap, env, log)`` from ``kafka_helpers``); the faults are
switched from the test process while it runs.  The proxy lives in the test process's
thread: a test must not block that process's GIL for long, and the proxy dies with it.

>>> with FaultProxy(("127.0.0.1", 9)) as p:
...     p.stats().connections
0
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from router.kafka.broker import EmbeddedBroker, free_port

__all__ = ["FaultProxy", "ProxiedBroker", "ProxyStats", "proxied_broker"]

T = TypeVar("T")
Direction = Literal["up", "down", "both"]
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ProxyStats:
    """Counters since the proxy started (a snapshot)."""

    connections: int = 0  #: client connections accepted and forwarded
    active: int = 0  #: of those, still open
    refused: int = 0  #: closed at once by :meth:`FaultProxy.refuse`
    bytes_up: int = 0  #: delivered client → broker
    bytes_down: int = 0  #: delivered broker → client


class _Conn:
    """One client connection and its connection to the broker."""

    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream = upstream

    def abort(self) -> None:
        for w in (self.client, self.upstream):
            w.transport.abort()


class FaultProxy:
    """TCP proxy ``127.0.0.1:port`` → ``target`` with switchable faults (see module doc)."""

    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        self.target = target
        self._want_port = port
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._conns: set[_Conn] = set()
        self._flowing: asyncio.Event | None = None  # cleared: black hole
        self._refusing = False
        self._delay = {"up": 0.0, "down": 0.0}  # seconds
        self._stats = ProxyStats()

    @property
    def address(self) -> str:
        """``127.0.0.1:port`` — what clients (and the broker's advertised listener) use."""
        return f"127.0.0.1:{self.port}"

    # ---- lifecycle ------------------------------------------------------------------
    def start(self) -> FaultProxy:
        """Listen (in a background thread); returns once the port accepts connections."""
        loop = self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="faultproxy",
                                        daemon=True)
        self._thread.start()
        self._run(self._listen())
        return self

    async def _listen(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1",
                                                  self._want_port, reuse_address=True)
        self.port = int(self._server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        """Close the listener and every connection; end the thread."""
        if self._loop is None or not self._loop.is_running():
            return
        self._run(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(timeout=10)
        self._loop.close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for c in list(self._conns):
            c.abort()
        await asyncio.sleep(0)  # let the pumps see the aborts
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run ``coro`` on the proxy's loop and wait for it (from any other thread)."""
        assert self._loop is not None, "proxy not started"
        if threading.current_thread() is self._thread:
            raise RuntimeError("FaultProxy control methods must not run on its own loop")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _call(self, fn: Callable[[], T]) -> T:
        async def wrapper() -> T:
            return fn()
        return self._run(wrapper())

    # ---- faults -----------------------------------------------------------------------
    def latency(self, ms: float, direction: Direction = "both") -> None:
        """Delay forwarded data by ``ms`` milliseconds in ``direction`` (0: none)."""
        def apply() -> None:
            for d in ("up", "down"):
                if direction in (d, "both"):
                    self._delay[d] = ms / 1000.0
        self._call(apply)

    def cut(self) -> int:
        """Close every current connection (both sides) now; how many were closed."""
        def apply() -> int:
            conns = list(self._conns)
            for c in conns:
                c.abort()
            self._conns.clear()  # gone now, even before their pumps notice
            return len(conns)
        return self._call(apply)

    def blackhole(self) -> None:
        """Forward nothing from now on (connections stay open) until :meth:`restore`."""
        self._call(lambda: self._gate().clear())

    def refuse(self) -> None:
        """Close each new connection at once until :meth:`restore`; open ones go on."""
        def apply() -> None:
            self._refusing = True
        self._call(apply)

    def restore(self) -> None:
        """Clear every fault: no latency, data flows, new connections are forwarded."""
        def apply() -> None:
            self._delay = {"up": 0.0, "down": 0.0}
            self._refusing = False
            self._gate().set()
        self._call(apply)

    def stats(self) -> ProxyStats:
        """The counters now."""
        return self._call(lambda: replace(self._stats, active=len(self._conns)))

    def wait_connections(self, n: int, timeout: float = 10.0) -> ProxyStats:
        """Wait until at least ``n`` connections were accepted in total; the counters."""
        deadline = time.monotonic() + timeout
        while (s := self.stats()).connections < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{s.connections} of {n} connections after {timeout}s")
            time.sleep(0.02)
        return s

    # ---- forwarding -------------------------------------------------------------------
    def _gate(self) -> asyncio.Event:
        assert self._flowing is not None
        return self._flowing

    def _count(self, **delta: int) -> None:
        s = self._stats
        self._stats = replace(s, **{k: getattr(s, k) + v for k, v in delta.items()})

    async def _handle(self, client_r: asyncio.StreamReader,
                      client_w: asyncio.StreamWriter) -> None:
        if self._refusing:
            self._count(refused=1)
            client_w.transport.abort()
            return
        try:
            up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.transport.abort()  # the broker is down: so is the connection
            return
        conn = _Conn(client_w, up_w)
        self._conns.add(conn)
        self._count(connections=1)
        pumps = [asyncio.create_task(self._pump(client_r, up_w, "up")),
                 asyncio.create_task(self._pump(up_r, client_w, "down"))]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # one side is gone: a Kafka connection is useless half-open
            for t in pumps:
                t.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            self._conns.discard(conn)
            conn.abort()

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                    direction: Literal["up", "down"]) -> None:
        """Copy ``src`` to ``dst`` through a queue, each chunk held until its due time."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        gate = self._gate()
        counter = "bytes_up" if direction == "up" else "bytes_down"

        async def read() -> None:
            while True:
                await gate.wait()  # black hole: stop reading, the kernel buffers fill
                data = await src.read(_CHUNK)
                await queue.put((loop.time() + self._delay[direction], data))
                if not data:
                    return

        async def write() -> None:
            while True:
                due, data = await queue.get()
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await gate.wait()  # read before the black hole: still held
                if not data:
                    return
                dst.write(data)
                await dst.drain()
                self._count(**{counter: len(data)})

        reader = asyncio.create_task(read())
        try:
            await write()
        except (ConnectionError, OSError):
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await reader


# ---- broker behind a proxy ------------------------------------------------------------
@dataclass
class ProxiedBroker:
    """An embedded broker whose only advertised address is a :class:`FaultProxy`."""

    broker: EmbeddedBroker
    proxy: FaultProxy

    @property
    def bootstrap(self) -> str:
        """The proxy's address: bootstrap here and every later connection go through it."""
        return self.proxy.address

    @property
    def pid(self) -> int:
        """The broker's process id (``os.kill(pid, SIGSTOP)`` freezes the broker itself)."""
        pid = self.broker.pid
        assert pid is not None, "broker not running"
        return pid


@contextlib.contextmanager
def proxied_broker(log_path: Path | None = None) -> Iterator[ProxiedBroker]:
    """Start a proxy, then a broker advertising the proxy; stop both afterwards."""
    broker_port = free_port()
    proxy = FaultProxy(("127.0.0.1", broker_port)).start()
    try:
        broker = EmbeddedBroker(broker_port, log_path, advertised=proxy.address)
        with broker.running():
            yield ProxiedBroker(broker, proxy)
    finally:
        proxy.stop()
