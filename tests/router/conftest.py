"""Fixtures of the router tests: routers as real processes, cleaned up and checked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka_helpers import RouterFactory, RouterProcess
from traffic import assert_no_health_data


@pytest.fixture
def routers(tmp_path: Path) -> Iterator[RouterFactory]:
    """Start routers (``routers(env, bootstrap, name, args)``); all are stopped afterwards,
    their logs printed (pytest shows them for a failing test) and scanned: health data
    never reaches a log, in any line of any router of any test that uses this."""
    made: list[RouterProcess] = []

    def start(env: dict[str, str], bootstrap: str, name: str = "router",
              args: tuple[str, ...] = ()) -> RouterProcess:
        r = RouterProcess(bootstrap, env, tmp_path / f"{name}-{len(made)}.log", args).start()
        made.append(r)
        return r

    yield start
    for r in made:
        r.close()
        print(f"---- {r.log_path.name} (pid {r.pid}, exit {r.proc and r.proc.returncode})")
        print(r.log_tail(30))
    for r in made:
        assert_no_health_data(r.log(), r.log_path.name)
