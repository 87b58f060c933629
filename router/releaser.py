"""Hold and release of KIM mails whose case was unknown when they arrived.

The held mails are the live table of ``kim.unmatched``; the cases that of ``mima.cases``.
Whenever either changes, every held mail whose case is known now is sent to the case
topic (or, if the case's KVNR differs, to the quarantine) and, only after that was
acknowledged, a tombstone clears it from ``kim.unmatched``. A crash in between sends the
mail again on restart (same ``stellwerk-id``): a duplicate, never a loss.

Several router processes each run a releaser: a mail may then be released twice (same
id), never lost; consumers of case topics deduplicate by id, as for every retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from .core.family import Tables
from .core.ports import Sink
from .core.stats import Stats
from .families.kim import CASES, HELD, CaseTable, HeldIndex, KimFamily
from .loop import StoppedError, count_outputs, deliver
from .metrics.observer import Observer

__all__ = ["run_releaser"]

log = logging.getLogger("stellwerk.kim")


async def run_releaser(kim: KimFamily, tables: Tables, sink: Sink, stop: asyncio.Event,
                       observer: Observer, *, grace: float = 3.0,
                       interval: float = 0.5) -> int:
    """Release held mails until stop; returns how many were released."""
    cases, held = tables.get(CASES, CaseTable), tables.get(HELD, HeldIndex)
    released: set[str] = set()  # released; tombstone not read back from the topic yet
    seen = (-1, -1)
    total = 0
    try:
        while not stop.is_set():
            version = (cases.version, held.version)
            if version != seen:
                seen = version
                released &= set(held.held())
                plan = kim.release(tables, released)
                if plan:
                    refused = await deliver(sink, [o for _, o in plan], stop, observer,
                                            grace)
                    done = [mid for i, (mid, _) in enumerate(plan) if i not in refused]
                    tombstones = [kim.tombstone(m) for m in done]
                    await deliver(sink, tombstones, stop, observer, grace, insist=True)
                    stats = Stats()
                    count_outputs(stats, kim.name, [o for i, (_, o) in enumerate(plan)
                                                    if i not in refused] + tombstones)
                    observer.on_batch(stats)
                    released.update(done)
                    total += len(done)
                    log.info("released %d held mail(s) to their case topics (%d refused, "
                             "still held)", len(done), len(refused))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    except StoppedError:
        log.warning("stopped during a release; it is repeated on restart (same ids)")
    return total
