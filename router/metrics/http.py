"""``/metrics``, ``/healthz`` and ``/readyz`` served from the router's own event loop.

Served in the loop on purpose: a loop that is blocked or frozen answers no probe, so
``/healthz`` failing means exactly "this process no longer makes progress", and metric
collection needs no locks. Responses are tiny and scrapes rare, so the loop barely
notices them.

* ``/healthz`` — 200 while the event loop runs;
* ``/readyz`` — 200 when :class:`Readiness` says so (partitions assigned, tables loaded,
  broker reachable), else 503 with the unmet conditions, one per line;
* ``/metrics`` — the Prometheus text format of the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["MetricsServer", "Readiness"]

log = logging.getLogger("stellwerk.metrics")

_MAX_REQUEST = 8192


class Readiness:
    """Named conditions, each a callable; ready when all are true.

    >>> r = Readiness()
    >>> r.add("tables loaded", lambda: False)
    >>> r.unmet()
    ['tables loaded']
    """

    def __init__(self) -> None:
        self._checks: dict[str, Callable[[], bool]] = {}

    def add(self, name: str, check: Callable[[], bool]) -> None:
        """Add a condition (replaces one of the same name)."""
        self._checks[name] = check

    def unmet(self) -> list[str]:
        """Names of the conditions not met now."""
        return [name for name, check in self._checks.items() if not check()]

    def ready(self) -> bool:
        """All conditions met."""
        return not self.unmet()


class MetricsServer:
    """A minimal HTTP/1.1 server for the three endpoints (GET and HEAD only)."""

    def __init__(self, registry: CollectorRegistry, readiness: Readiness, port: int,
                 host: str = "0.0.0.0") -> None:
        self.registry = registry
        self.readiness = readiness
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("metrics on :%d (/metrics, /healthz, /readyz)", self.port)
        return self.port

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None

    def respond(self, path: str) -> tuple[int, str, bytes]:
        """Status, content type and body for ``path`` (pure; used by the handler)."""
        path = path.split("?", 1)[0]
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
        if path == "/healthz":
            return 200, "text/plain; charset=utf-8", b"ok\n"
        if path == "/readyz":
            unmet = self.readiness.unmet()
            if unmet:
                return 503, "text/plain; charset=utf-8", (
                    "not ready:\n" + "".join(f"- {u}\n" for u in unmet)).encode()
            return 200, "text/plain; charset=utf-8", b"ready\n"
        return 404, "text/plain; charset=utf-8", b"not found\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                      ) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
            if len(head) > _MAX_REQUEST:
                raise ValueError("request too large")
            method, path, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            if method not in ("GET", "HEAD"):
                status, ctype, body = 405, "text/plain; charset=utf-8", b"GET only\n"
            else:
                status, ctype, body = self.respond(path)
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed",
                      503: "Service Unavailable"}[status]
            writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                         .encode("latin-1"))
            if method != "HEAD":
                writer.write(body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ValueError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
