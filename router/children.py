"""Child processes that never outlive their parent (Linux: the parent-death signal).

Used for the embedded broker (SIGKILL: it holds nothing worth a clean stop) and for the
router workers of ``stellwerk run --workers N`` (SIGTERM: they stop in bounded time and
commit what was delivered).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, looked up in the parent: the forked child should only call it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return fn


def die_with_parent(sig: signal.Signals = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the kernel send ``sig`` to the child when its parent
    dies (None where the platform cannot).

    Runs between fork and exec, so it does as little as possible: one prepared foreign
    call and a check for the race where the parent died before the call (then no signal
    would ever come, so the child signals itself).
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()
    number = ctypes.c_ulong(sig)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, number)
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return preexec
