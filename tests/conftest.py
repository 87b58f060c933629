"""Shared fixtures: the embedded Kafka broker (real Tansu process on a free port).

* ``broker`` — one memory broker for the whole session;
* ``proxied_broker`` — a fresh broker per test behind a fault proxy
  (``tests/router/faultproxy.py``) that it advertises, so every connection can be cut,
  delayed or frozen;
* ``s3_broker`` — a fresh broker per test on S3 storage (``tests/router/s3broker.py``)
  that can be SIGKILLed and restarted with its topics, records and commits.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from router.kafka.broker import EmbeddedBroker

if TYPE_CHECKING:
    from faultproxy import ProxiedBroker
    from s3broker import S3Broker

_ROUTER_TESTS = str(Path(__file__).parent / "router")
# ``kimfixtures`` (generated KIM mails and Muster 86 scans) is shared by codec, router and
# benchmark code, so the tests folder itself is importable.
_TESTS = str(Path(__file__).parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One embedded broker for the session; tests use their own topic names or groups."""
    log = Path(tmp_path_factory.mktemp("broker")) / "tansu.log"
    b = EmbeddedBroker(log_path=log)
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def proxied_broker(tmp_path: Path) -> Iterator[ProxiedBroker]:
    """A broker of this test's own behind a :class:`faultproxy.FaultProxy`.

    Yields ``.bootstrap`` (the proxy's address, which the broker advertises), ``.proxy``
    (the fault controller), ``.broker`` (the :class:`EmbeddedBroker`) and ``.pid`` (the
    broker's process id, for SIGSTOP/SIGCONT).  Its log is ``tmp_path / "tansu.log"``.
    """
    # the helpers live beside the router tests, which import them as top-level modules
    if _ROUTER_TESTS not in sys.path:
        sys.path.insert(0, _ROUTER_TESTS)
    from faultproxy import proxied_broker as start  # noqa: PLC0415

    with start(tmp_path / "tansu.log") as pb:
        yield pb


@pytest.fixture
def s3_broker(tmp_path: Path) -> Iterator[S3Broker]:
    """A broker of this test's own on S3 storage (ministack), which survives a SIGKILL.

    Yields an :class:`s3broker.S3Broker`: ``.bootstrap``, ``.pid``, ``.kill()`` (SIGKILL
    the broker), ``.restart()`` (same port and bucket), ``.broker``, ``.s3``.  Logs and
    the S3 data are under ``tmp_path``.
    """
    if _ROUTER_TESTS not in sys.path:
        sys.path.insert(0, _ROUTER_TESTS)
    from s3broker import s3_broker as start  # noqa: PLC0415

    with start(tmp_path) as b:
        yield b
