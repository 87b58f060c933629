"""Throughput of the ``sgb301`` codec against pydifact on a generated §301 corpus.

Builds the deterministic corpus of :mod:`corpus` (seed printed), pins the process to one
CPU core and measures, best of ``--repeat`` runs with ``time.perf_counter``:

* tokenize           ``sgb301.scan(buf)`` for every interchange (envelope + message spans)
* tokenize+validate  ``Validator().validate(buf)``, one validator for all interchanges
* pydifact           ``pydifact.segmentcollection.Interchange.from_str(text)`` on the
                     latin-1 decoded interchange text (decoding not timed)

and prints a markdown table (messages/s, MB/s, ratio vs pydifact). ``--profile`` runs
cProfile over one tokenize+validate pass instead and prints the top functions.

    uv run python benchmarks/codec_bench.py
    uv run python benchmarks/codec_bench.py --messages 20000 --pydifact-messages 5000
    uv run python benchmarks/codec_bench.py --profile
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import os
import platform
import pstats
import shlex
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from importlib import metadata

from corpus import (
    DEFAULT_MESSAGES,
    DEFAULT_PER_INTERCHANGE,
    DEFAULT_SEED,
    TYPE_WEIGHTS,
    build_corpus,
    corpus_stats,
    fast_path_hits,
    verify,
    with_defects,
)
from pydifact.exceptions import MissingImplementationWarning
from pydifact.segmentcollection import Interchange

import sgb301

GOAL_RATIO = 20.0  # tokenize+validate vs pydifact
GOAL_RATE = 100_000.0  # tokenize+validate messages/s
GOAL_REJECTED = 3.0  # cost of a rejected message vs an accepted one
GOAL_CLI = 10.0  # stellwerk validate --json vs pydifact, 1/3 rejected


def _busy_ticks() -> dict[int, int]:
    """Non-idle jiffies per CPU from /proc/stat (empty where unavailable)."""
    out: dict[int, int] = {}
    try:
        with open("/proc/stat") as fh:
            for line in fh:
                name, *fields = line.split()
                if name.startswith("cpu") and name[3:].isdigit():
                    ticks = [int(x) for x in fields]
                    out[int(name[3:])] = sum(ticks) - ticks[3] - ticks[4]  # minus idle, iowait
    except OSError:
        pass
    return out


def pin_one_core(cpu: int | None) -> str:
    """Restrict the process to one CPU (Linux): ``cpu``, or the least busy allowed one
    over a short sample (the machine is shared). Returns a description."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    allowed = sorted(os.sched_getaffinity(0))
    target = cpu
    if target is None:
        before = _busy_ticks()
        time.sleep(0.5)
        after = _busy_ticks()
        load = {c: after.get(c, 0) - before.get(c, 0) for c in allowed}
        target = min(allowed, key=lambda c: load[c])
    os.sched_setaffinity(0, {target})
    return f"pinned to CPU {target} (of {len(allowed)} allowed)"


class Timing:
    """Wall and CPU seconds of every repetition of one measurement."""

    def __init__(self, name: str, messages: int, size: int) -> None:
        self.name, self.messages, self.size = name, messages, size
        self.wall: list[float] = []
        self.cpu: list[float] = []

    @property
    def best(self) -> float:
        return min(self.wall)

    @property
    def rate(self) -> float:
        return self.messages / self.best

    @property
    def cpu_rate(self) -> float:
        return self.messages / min(self.cpu)


def best_of(timing: Timing, fn: Callable[[], object], repeat: int) -> Timing:
    """Run ``fn`` ``repeat`` times (garbage collected before each), recording wall time
    (``perf_counter``, what counts) and process CPU time (``process_time``, which shows
    how much of the wall time other processes on the shared machine took)."""
    for _ in range(repeat):
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        timing.wall.append(time.perf_counter() - t0)
        timing.cpu.append(time.process_time() - c0)
    print(f"{timing.name}: wall {[round(t, 3) for t in timing.wall]} s, "
          f"cpu {[round(t, 3) for t in timing.cpu]} s", flush=True)
    return timing


def messages_in(corpus: Sequence[bytes]) -> int:
    return sum(ic.count(b"UNH+") for ic in corpus)


def pydifact_subset(corpus: Sequence[bytes], n_messages: int | None) -> list[bytes]:
    """Whole interchanges from the start of the corpus holding >= n_messages (None: all)."""
    if n_messages is None:
        return list(corpus)
    out: list[bytes] = []
    count = 0
    for ic in corpus:
        if count >= n_messages:
            break
        out.append(ic)
        count += ic.count(b"UNH+")
    return out


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def codec_state() -> str:
    """Commit and uncommitted codec files, since the codec changes under our feet."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, check=True,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "codecs"], cwd=root,
                               check=True, capture_output=True, text=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    changed = [line[3:] for line in dirty if line.strip()]
    return f"{head}" + (f" + uncommitted {', '.join(changed)}" if changed else " (clean)")


def by_type(args: argparse.Namespace) -> None:
    """tokenize+validate throughput on single-type corpora."""
    rows = []
    for mtype in TYPE_WEIGHTS:
        corpus = build_corpus(args.by_type, args.per_interchange, args.seed,
                              released_share=args.released_share,
                              line_breaks=args.line_breaks, weights={mtype: 1.0})
        validate = sgb301.Validator().validate
        size = sum(map(len, corpus))

        def run(corpus: list[bytes] = corpus, validate: Callable[[bytes], object] = validate,
                ) -> None:
            for ic in corpus:
                validate(ic)

        t = best_of(Timing(mtype, args.by_type, size), run, args.repeat)
        rows.append(f"| {mtype} | {args.by_type:,} | {size / args.by_type:.0f} | "
                    f"{t.rate:,.0f} | {size / 1e6 / t.best:.1f} | {t.cpu_rate:,.0f} |")
    print("\n| tokenize+validate, one type | messages | B/message | messages/s | MB/s "
          "| messages/s by CPU time |")
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


def cli_row(corpus: Sequence[bytes], args: argparse.Namespace) -> Timing:
    """``stellwerk validate --json FILE`` as a whole process (start-up included), the
    corpus written as one file per interchange into a temporary directory; output to
    /dev/null."""
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, ic in enumerate(corpus):
            path = os.path.join(tmp, f"{i:05d}.edi")
            with open(path, "wb") as fh:
                fh.write(ic)
            paths.append(path)
        cmd = [sys.executable, "-m", "router.cli", "validate", "--json", *paths]
        timing = Timing("`stellwerk validate --json` (whole process), 1/3 rejected",
                        messages_in(corpus), sum(map(len, corpus)))
        for _ in range(args.repeat):
            start, cpu = time.perf_counter(), os.times()
            with open(os.devnull, "wb") as out:
                subprocess.run(cmd, stdout=out, check=False)
            end = os.times()
            timing.wall.append(time.perf_counter() - start)
            timing.cpu.append(end.children_user + end.children_system
                              - cpu.children_user - cpu.children_system)
        print(f"{timing.name}: wall {[round(t, 3) for t in timing.wall]} s", flush=True)
        return timing


def run_profile(corpus: Sequence[bytes], top: int) -> None:
    validator = sgb301.Validator()
    validate = validator.validate
    for ic in corpus[:5]:  # compile the fast-path patterns outside the profile
        validate(ic)
    profiler = cProfile.Profile()
    profiler.enable()
    for ic in corpus:
        validate(ic)
    profiler.disable()
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.strip_dirs().sort_stats(order).print_stats(top)
        print(f"### tokenize+validate, top {top} by {order}\n")
        print("```")
        print(out.getvalue().strip())
        print("```\n")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=DEFAULT_MESSAGES,
                   help=f"messages in the corpus (default {DEFAULT_MESSAGES})")
    p.add_argument("--per-interchange", type=int, default=DEFAULT_PER_INTERCHANGE,
                   help=f"messages per interchange (default {DEFAULT_PER_INTERCHANGE})")
    p.add_argument("--pydifact-messages", type=int, default=None,
                   help="messages (whole interchanges) given to pydifact (default: all)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help=f"corpus seed (default {DEFAULT_SEED})")
    p.add_argument("--repeat", type=int, default=3, help="repetitions, best counts (default 3)")
    p.add_argument("--released-share", type=float, default=0.0,
                   help="fraction of names with an escaped apostrophe (slow path; default 0)")
    p.add_argument("--line-breaks", action="store_true",
                   help="line break after every segment (as the published examples)")
    p.add_argument("--cpu", type=int, default=None,
                   help="CPU to pin to (default: the least busy allowed one)")
    p.add_argument("--check", action="store_true",
                   help="fail (exit 1) unless every generated message is accepted")
    p.add_argument("--profile", action="store_true",
                   help="only profile one tokenize+validate pass with cProfile")
    p.add_argument("--top", type=int, default=25, help="profile lines per ordering (default 25)")
    p.add_argument("--by-type", type=int, default=0, metavar="N",
                   help="also time tokenize+validate on N messages of each single type")
    args = p.parse_args(argv)

    load_before = _load()
    pinned = pin_one_core(args.cpu)
    command = "uv run python " + shlex.join(["benchmarks/codec_bench.py", *sys.argv[1:]])
    print(f"seed: {args.seed}", flush=True)
    t0 = time.perf_counter()
    corpus = build_corpus(args.messages, args.per_interchange, args.seed,
                          released_share=args.released_share, line_breaks=args.line_breaks)
    stats = corpus_stats(corpus)
    print(f"corpus built in {time.perf_counter() - t0:.1f} s: {stats}", flush=True)

    if args.profile:
        run_profile(corpus, args.top)
        return 0

    # ---- correctness first: every timed message should be a clean, fast-path message --
    validator = sgb301.Validator()
    checked = verify(corpus, validator)
    hits = fast_path_hits(corpus, validator)
    for line in checked.problems[:20]:
        print(line, file=sys.stderr)
    if args.check and not checked.ok:
        print("--check: generated messages were rejected", file=sys.stderr)
        return 1

    n_msgs, n_bytes = stats["messages"], stats["bytes"]
    validate = validator.validate
    scan = sgb301.scan

    def run_scan() -> None:
        for ic in corpus:
            scan(ic)

    def run_validate() -> None:
        for ic in corpus:
            validate(ic)

    third, faulty = with_defects(corpus, 1 / 3), with_defects(corpus, 1.0)

    def run_on(data: Sequence[bytes]) -> Callable[[], None]:
        def run() -> None:
            for ic in data:
                validate(ic)
        return run

    rows = [
        best_of(Timing("tokenize (`sgb301.scan`)", n_msgs, n_bytes), run_scan, args.repeat),
        best_of(Timing("tokenize+validate (`Validator().validate`)", n_msgs, n_bytes),
                run_validate, args.repeat),
        best_of(Timing("tokenize+validate, 1/3 of the messages rejected", n_msgs,
                       sum(map(len, third))), run_on(third), args.repeat),
        best_of(Timing("tokenize+validate, every message rejected", n_msgs,
                       sum(map(len, faulty))), run_on(faulty), args.repeat),
    ]
    cli = cli_row(third, args)

    # pydifact 0.2.3 ships no service-segment XML; it warns per UNB/UNH/UNT/UNZ segment.
    warnings.simplefilter("ignore", MissingImplementationWarning)
    subset = pydifact_subset(corpus, args.pydifact_messages)
    texts = [ic.decode("latin-1") for ic in subset]
    from_str = Interchange.from_str

    def run_pydifact() -> None:
        for text in texts:
            from_str(text)

    rows.append(best_of(Timing("pydifact (`Interchange.from_str`)", messages_in(subset),
                               sum(map(len, subset))), run_pydifact, args.repeat))
    base = rows[-1]
    rows.insert(4, cli)
    print()
    print(f"- command: `{command}`")
    print(f"- date: {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"- Python {platform.python_version()} ({platform.python_implementation()}), "
          f"{platform.machine()}, {pinned}; pydifact {metadata.version('pydifact')}")
    print(f"- corpus: seed {args.seed}, {n_msgs} messages in {stats['interchanges']} "
          f"interchanges of <= {args.per_interchange}, {n_bytes} bytes "
          f"({n_bytes / n_msgs:.0f} B/message); "
          + ", ".join(f"{k[5:]} {v}" for k, v in stats.items() if k.startswith("type ")))
    print(f"- accepted by Validator(): {checked.accepted}/{checked.messages}; fast path: "
          f"{'n/a' if hits is None else f'{hits}/{checked.messages}'}")
    print(f"- codec: {codec_state()}")
    print(f"- best of {args.repeat} runs, one core; load average before/after: "
          f"{load_before} / {_load()}")
    print()
    print("| measurement | messages | MB | best s | messages/s | MB/s | vs pydifact "
          "| messages/s by CPU time |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r.name} | {r.messages:,} | {r.size / 1e6:.1f} | {r.best:.3f} | "
              f"{r.rate:,.0f} | {r.size / 1e6 / r.best:.1f} | {r.rate / base.rate:.1f}x | "
              f"{r.cpu_rate:,.0f} |")
    rate, ratio = rows[1].rate, rows[1].rate / base.rate
    rejected_cost = rows[3].best / rows[1].best
    cli_ratio = cli.rate / base.rate
    print()
    print(f"goals (tokenize+validate): >= {GOAL_RATIO:.0f}x pydifact: {ratio:.1f}x "
          f"{'met' if ratio >= GOAL_RATIO else 'MISSED'}; >= {GOAL_RATE:,.0f} messages/s: "
          f"{rate:,.0f} {'met' if rate >= GOAL_RATE else 'MISSED'}; a rejected message "
          f"<= {GOAL_REJECTED:.0f}x the cost of an accepted one: {rejected_cost:.1f}x "
          f"{'met' if rejected_cost <= GOAL_REJECTED else 'MISSED'} (by CPU time "
          f"{rows[1].cpu_rate / rows[3].cpu_rate:.1f}x); `stellwerk validate --json` on the "
          f"1/3-rejected corpus >= {GOAL_CLI:.0f}x pydifact: {cli_ratio:.1f}x "
          f"{'met' if cli_ratio >= GOAL_CLI else 'MISSED'}")
    if args.by_type:
        by_type(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
