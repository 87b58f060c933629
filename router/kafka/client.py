"""Connections to Kafka: client arguments, start with retry, bounded close.

``router/kafka`` is the only code that imports aiokafka; everything here converts
aiokafka objects to :mod:`router.core.records` and back, and turns aiokafka's transient
failures into :class:`~router.core.ports.TransientError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Coroutine
from typing import Any

from aiokafka.errors import KafkaError

from ..config import KafkaConfig

__all__ = ["MAX_RECORD_BYTES", "STOP_TIMEOUT", "close_bounded", "connected",
           "connection_kwargs", "retriable", "start_with_retry"]

log = logging.getLogger("stellwerk.kafka")

MAX_RECORD_BYTES = 16 * 1024 * 1024  # KIM mails reach 15 MiB
STOP_TIMEOUT = 3.0


def connection_kwargs(k: KafkaConfig, bootstrap: str | None = None) -> dict[str, Any]:
    """aiokafka connection arguments, security settings passed through."""
    kw: dict[str, Any] = {
        "bootstrap_servers": bootstrap or k.bootstrap,
        "client_id": k.client_id,
        "security_protocol": k.security_protocol,
    }
    if k.security_protocol in ("SSL", "SASL_SSL"):
        ctx = ssl.create_default_context(cafile=k.ssl_cafile or None)
        if k.ssl_certfile:
            ctx.load_cert_chain(k.ssl_certfile, k.ssl_keyfile or None)
        kw["ssl_context"] = ctx
    if k.security_protocol.startswith("SASL"):
        kw.update(sasl_mechanism=k.sasl_mechanism, sasl_plain_username=k.sasl_username,
                  sasl_plain_password=k.sasl_password.reveal())
    return kw


async def start_with_retry(client: Any, what: str, stop: asyncio.Event | None = None,
                           attempts: int = 0) -> None:
    """``await client.start()`` with exponential backoff while the broker is unreachable.

    ``attempts`` 0 retries until ``stop`` is set; then the last error is raised. The
    backoff wakes up at once when ``stop`` is set.
    """
    delay, n = 0.5, 0
    while True:
        try:
            await client.start()
            return
        except KafkaError as exc:
            n += 1
            if (not retriable(exc) or (attempts and n >= attempts)
                    or (stop is not None and stop.is_set())):
                raise
            log.warning("%s: broker unreachable (%s); retrying in %.1fs", what,
                        type(exc).__name__, delay)
            if stop is None:
                await asyncio.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 10.0)


def connected(client: Any) -> bool:
    """Whether an aiokafka consumer or producer holds at least one open broker connection
    (read from its client's connection table; False when that cannot be told)."""
    inner: Any = getattr(client, "_client", None) or getattr(client, "client", None)
    try:
        return any(conn.connected() for conn in inner._conns.values())
    except AttributeError:
        return False


def retriable(exc: BaseException) -> bool:
    """Retry vs give up, decided by the error itself (aiokafka's ``retriable``); errors
    from outside Kafka's hierarchy (connection resets, timeouts) are worth a retry."""
    return bool(getattr(exc, "retriable", True)) if isinstance(exc, KafkaError) else True


async def close_bounded(closing: Coroutine[Any, Any, None], what: str) -> None:
    """Await a client's ``stop()`` for at most STOP_TIMEOUT; a broker that is gone must
    not turn a clean shutdown into a crash or a hang."""
    try:
        await asyncio.wait_for(closing, STOP_TIMEOUT)
    except TimeoutError:
        log.warning("%s did not close within %.0fs (broker gone or group join in flight)",
                    what, STOP_TIMEOUT)
    except (KafkaError, OSError) as exc:
        log.warning("%s closed with %s", what, type(exc).__name__)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        # aiokafka's fetcher re-raises the cancellation of its own task on close.
        log.warning("%s close interrupted (broker gone)", what)
