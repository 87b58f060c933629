"""Throughput and accuracy of the KIM mail codec (``kimmail``) on generated fixtures.

Three measurements, all on the fictitious fixtures of ``tests/kimfixtures``:

1. **text-layer mails/s**: ``--mails`` N (default 200) complete KIM mails
   (``kimfixtures.mails.kim_mail``: Muster 86, Befundbericht, eArztbrief PDF + CDA) whose
   Muster 86 is a PDF with a text layer (``muster86_pdf``, a different Aktenzeichen per
   mail), run through ``kimmail.analyse(raw)`` one after another in this process, pinned
   to one CPU core (one warm-up mail first, building the mails is not timed). Reports
   mails/s by wall time (``perf_counter``) and by process CPU time, the verdict counts
   and how many verdicts carry the Aktenzeichen of their form.
2. **OCR seconds per page** (p50/p95): the wall time of one
   ``kimmail.muster86.read_form(data, media)`` call with the default ``FormLimits()``
   (``ocr=True``), measured inside the worker process around that call only (generating
   the scan is not timed). Every scan is one page. Also its CPU time (the worker's and
   its tesseract subprocesses'), which other load on the machine inflates far less.
3. **Aktenzeichen accuracy** over ``--scans`` (default 200, ``--quick`` 24) scans: a
   deterministic grid (``--seed``) over rotation 0/90/180/270 × format JPEG/PNG/TIFF/
   image-only PDF × 150/200/300 dpi, with a random skew in ±3° and noise 0..1
   (``muster86_scan`` / ``muster86_image_pdf``, no barcode) and a random 18-digit
   Aktenzeichen. A reading is *correct* (the Aktenzeichen of the fixture), *not read*
   (no Aktenzeichen: the mail would be quarantined) or *WRONG* (another Aktenzeichen:
   the mail would be routed to another case). Wrong is never counted as not read.

The scans are read in a process pool (``--workers``, default ``os.cpu_count()``,
"forkserver" context, ``OMP_THREAD_LIMIT=1`` for tesseract). The goals (≥ 50 mails/s per
core, OCR p50 ≤ 3 s/page, ≥ 97 % read, 0 wrong) are printed with pass/FAIL; the exit
status is 0 regardless (a measurement, not a test) unless ``--strict``.

    .venv/bin/python benchmarks/kim_bench.py
    .venv/bin/python benchmarks/kim_bench.py --quick
    .venv/bin/python benchmarks/kim_bench.py --scans 400 --mails 50 --strict
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import platform
import random
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT / "tests"))

import pytesseract  # noqa: E402
from kimfixtures.mails import KVNR, kim_mail  # noqa: E402
from kimfixtures.muster86 import muster86_image_pdf, muster86_pdf, muster86_scan  # noqa: E402

import kimmail  # noqa: E402
from kimmail.muster86 import read_form  # noqa: E402
from kimmail.muster86.pdftext import text_layer  # noqa: E402

GOAL_MAILS_PER_S = 50.0  # text-layer mails per second on one core
GOAL_OCR_P50_S = 3.0  # seconds per scanned page, median
GOAL_READ_SHARE = 0.97  # share of scans whose Aktenzeichen is read correctly
GOAL_WRONG = 0  # scans with a wrong Aktenzeichen

ROTATIONS = (0, 90, 180, 270)
FORMATS = ("jpeg", "png", "tiff", "pdf")  # "pdf": image-only PDF (no text layer)
DPIS = (150, 200, 300)
MAX_SKEW = 3.0
MEDIA = {"jpeg": "image/jpeg", "png": "image/png", "tiff": "image/tiff",
         "pdf": "application/pdf"}
DEFAULT_SEED = 86
DEFAULT_SCANS, QUICK_SCANS = 200, 24
DEFAULT_MAILS, QUICK_MAILS = 200, 20


# -- the scan corpus ----------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One generated scan: everything needed to build it again."""

    index: int
    aktenzeichen: str
    rotation: int
    skew: float
    dpi: int
    noise: float
    fmt: str
    seed: int

    def build(self) -> bytes:
        if self.fmt == "pdf":
            return muster86_image_pdf(self.aktenzeichen, rotation=self.rotation,
                                      skew=self.skew, dpi=self.dpi, noise=self.noise,
                                      seed=self.seed)
        return muster86_scan(self.aktenzeichen, rotation=self.rotation, skew=self.skew,
                             dpi=self.dpi, noise=self.noise, fmt=self.fmt, seed=self.seed)

    def call(self) -> str:
        """The fixture call that reproduces this scan."""
        params = (f"rotation={self.rotation}, skew={self.skew}, dpi={self.dpi}, "
                  f"noise={self.noise}, seed={self.seed}")
        if self.fmt == "pdf":
            return f'muster86_image_pdf("{self.aktenzeichen}", {params})'
        return f'muster86_scan("{self.aktenzeichen}", {params}, fmt="{self.fmt}")'


@dataclass(frozen=True)
class Outcome:
    """What the reader made of one case (no document text, no KVNR)."""

    case: Case
    value: str | None  # the Aktenzeichen returned
    source: str | None
    detail: str
    candidates: int
    seconds: float  # wall time of read_form, measured in the worker
    cpu: float  # CPU seconds of read_form: the worker's and its tesseract processes'

    @property
    def status(self) -> str:
        if self.value == self.case.aktenzeichen:
            return "read"
        return "not read" if self.value is None else "WRONG"


def build_cases(n: int, seed: int) -> list[Case]:
    """A full factorial over rotation × format × dpi, repeated every 48 scans (index i:
    rotation ``i % 4``, format ``(i // 4) % 4``, dpi ``i % 3``, so any 12 consecutive
    scans cover every rotation × dpi and any 16 every rotation × format), with random
    skew, noise and Aktenzeichen from ``random.Random(seed)``."""
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        cases.append(Case(
            index=i,
            aktenzeichen=str(rng.randrange(10**17, 10**18)),
            rotation=ROTATIONS[i % 4],
            fmt=FORMATS[(i // 4) % 4],
            dpi=DPIS[i % 3],
            skew=round(rng.uniform(-MAX_SKEW, MAX_SKEW), 1),
            noise=round(rng.uniform(0.0, 1.0), 2),
            seed=seed * 10_000 + i,
        ))
    return cases


def _init_worker() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"


def _cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (tesseract runs as one)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def read_case(case: Case) -> Outcome:
    """Build the scan and time ``read_form`` on it (runs in a worker process)."""
    data = case.build()
    c0, t0 = _cpu_seconds(), time.perf_counter()
    reading = read_form(data, MEDIA[case.fmt])
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    return Outcome(case, reading.aktenzeichen, reading.source, reading.detail,
                   len(reading.candidates), seconds, cpu)


def run_corpus(cases: Sequence[Case], workers: int) -> tuple[list[Outcome], float]:
    os.environ["OMP_THREAD_LIMIT"] = "1"  # inherited by the forkserver and tesseract
    ctx = multiprocessing.get_context("forkserver")
    outcomes: list[Outcome] = []
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                             initializer=_init_worker) as pool:
        futures = [pool.submit(read_case, c) for c in cases]
        step = max(1, len(cases) // 10)
        for done, fut in enumerate(as_completed(futures), 1):
            outcomes.append(fut.result())
            if done % step == 0 or done == len(cases):
                bad = sum(o.status != "read" for o in outcomes)
                print(f"scans: {done}/{len(cases)} read in {time.perf_counter() - t0:.0f} s "
                      f"({bad} not read or wrong so far)", flush=True)
    outcomes.sort(key=lambda o: o.case.index)
    return outcomes, time.perf_counter() - t0


# -- text-layer mails ---------------------------------------------------------------------

@dataclass(frozen=True)
class MailRun:
    mails: int
    wall: float
    cpu: float
    verdicts: Counter[str]
    codes: Counter[str]  # reason codes of quarantined mails
    sources: Counter[str]
    aktenzeichen_ok: int

    @property
    def rate(self) -> float:
        return self.mails / self.wall

    @property
    def cpu_rate(self) -> float:
        return self.mails / self.cpu if self.cpu > 0 else float("inf")


def build_mails(n: int, seed: int) -> list[tuple[str, bytes]]:
    rng = random.Random(seed + 1)
    out = []
    for _ in range(n):
        akz = str(rng.randrange(10**17, 10**18))
        out.append((akz, kim_mail(muster86=muster86_pdf(akz, kvnr=KVNR), kvnr=KVNR)))
    return out


def run_mails(mails: Sequence[tuple[str, bytes]]) -> MailRun:
    def analyse(raw: bytes) -> kimmail.MailVerdict:
        # The fixture mails share their Befundbericht and eArztbrief bytes; real mails do
        # not. Forget the text layers of the previous mail so every PDF is parsed anew.
        text_layer.cache_clear()
        return kimmail.analyse(raw)

    analyse(mails[0][1])  # warm-up: lazy imports, font and pattern caches
    c0, t0 = time.process_time(), time.perf_counter()
    verdicts = [analyse(raw) for _, raw in mails]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    codes: Counter[str] = Counter()
    for v in verdicts:
        if not v.accepted:
            codes.update(r.code for r in v.reasons)
    return MailRun(
        mails=len(mails), wall=wall, cpu=cpu,
        verdicts=Counter(v.verdict for v in verdicts),
        codes=codes,
        sources=Counter(str(v.aktenzeichen_source) for v in verdicts),
        aktenzeichen_ok=sum(v.aktenzeichen == akz for (akz, _), v in zip(mails, verdicts,
                                                                         strict=True)),
    )


# -- environment --------------------------------------------------------------------------

def pin_one_core() -> tuple[set[int], str]:
    """Pin to the least busy allowed CPU (sampled over 0.5 s); returns the old affinity."""
    if not hasattr(os, "sched_setaffinity"):
        return set(), "not pinned"
    allowed = set(os.sched_getaffinity(0))

    def busy() -> dict[int, int]:
        ticks: dict[int, int] = {}
        with open("/proc/stat") as fh:
            for line in fh:
                name, *fields = line.split()
                if name.startswith("cpu") and name[3:].isdigit():
                    t = [int(x) for x in fields]
                    ticks[int(name[3:])] = sum(t) - t[3] - t[4]
        return ticks

    try:
        before = busy()
        time.sleep(0.5)
        after = busy()
        cpu = min(sorted(allowed), key=lambda c: after.get(c, 0) - before.get(c, 0))
    except OSError:
        cpu = min(allowed)
    os.sched_setaffinity(0, {cpu})
    return allowed, f"pinned to CPU {cpu} (of {len(allowed)} allowed)"


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def codec_state() -> str:
    """Commit and uncommitted files of the codec (it changes under our feet)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=_ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "codecs/kimmail"],
                               cwd=_ROOT, check=True, capture_output=True,
                               text=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    changed = [line[3:] for line in dirty if line.strip()]
    return head + (f" + uncommitted {', '.join(changed)}" if changed else " (clean)")


# -- report -------------------------------------------------------------------------------

def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "n/a"


def _quantile(values: Sequence[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def _mark(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def _breakdown(outcomes: Sequence[Outcome], label: str, key: str,
               values: Iterable[object]) -> None:
    print(f"\n| {label} | scans | read | not read | WRONG | s/page p50 | s/page p95 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for value in values:
        group = [o for o in outcomes if getattr(o.case, key) == value]
        if not group:
            continue
        st = Counter(o.status for o in group)
        secs = [o.seconds for o in group]
        print(f"| {value} | {len(group)} | {st['read']} | {st['not read']} | {st['WRONG']} | "
              f"{statistics.median(secs):.2f} | {_quantile(secs, 0.95):.2f} |")


def report(mail: MailRun, outcomes: Sequence[Outcome], corpus_wall: float, workers: int,
           header: list[str]) -> bool:
    """Print the result; returns whether every goal was met."""
    n = len(outcomes)
    status = Counter(o.status for o in outcomes)
    secs = [o.seconds for o in outcomes]
    p50, p95 = statistics.median(secs), _quantile(secs, 0.95)
    accepted = mail.verdicts.get(kimmail.ACCEPTED, 0)
    goals = {
        "mails/s": mail.rate >= GOAL_MAILS_PER_S,
        "accepted": accepted == mail.mails and mail.aktenzeichen_ok == mail.mails,
        "ocr p50": p50 <= GOAL_OCR_P50_S,
        "read": status["read"] >= GOAL_READ_SHARE * n,
        "wrong": status["WRONG"] <= GOAL_WRONG,
    }
    print()
    for line in header:
        print(f"- {line}")
    print(f"- scans: {n} in {corpus_wall:.0f} s wall on {workers} worker processes "
          f"({n / corpus_wall * 60:.1f} scans/min incl. generating them)")
    print(f"- load average at the end: {_load()}")
    print()
    print("| measurement | n | measured | goal | result |")
    print("|---|---:|---:|---:|---|")
    print(f"| text-layer mails/s (`kimmail.analyse`, one core) | {mail.mails} | "
          f"{mail.rate:.1f} (by CPU time {mail.cpu_rate:.1f}) | ≥ {GOAL_MAILS_PER_S:.0f} | "
          f"{_mark(goals['mails/s'])} |")
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(mail.verdicts.items()))
    print(f"| text-layer mails: verdicts; Aktenzeichen of the form | {mail.mails} | "
          f"{verdicts}; {mail.aktenzeichen_ok}/{mail.mails} | all accepted | "
          f"{_mark(goals['accepted'])} |")
    print(f"| OCR s/page p50 (`read_form`, in the worker) | {n} | {p50:.2f} | "
          f"≤ {GOAL_OCR_P50_S:.0f} | {_mark(goals['ocr p50'])} |")
    print(f"| OCR s/page p95 / max | {n} | {p95:.2f} / {max(secs):.2f} | – | – |")
    cpus = [o.cpu for o in outcomes]
    print(f"| OCR CPU s/page p50 / p95 (worker + tesseract) | {n} | "
          f"{statistics.median(cpus):.2f} / {_quantile(cpus, 0.95):.2f} | – | – |")
    print(f"| Aktenzeichen read correctly | {n} | {status['read']} ({_pct(status['read'], n)})"
          f" | ≥ {GOAL_READ_SHARE:.0%} | {_mark(goals['read'])} |")
    print(f"| not read (no Aktenzeichen → quarantine) | {n} | {status['not read']} "
          f"({_pct(status['not read'], n)}) | – | – |")
    print(f"| **WRONG** Aktenzeichen (another value returned) | {n} | {status['WRONG']} | "
          f"{GOAL_WRONG} | {_mark(goals['wrong'])} |")

    print()
    if mail.codes:
        print("reason codes of quarantined text-layer mails: "
              + ", ".join(f"{c} {k}" for c, k in sorted(mail.codes.items())))
    print("Aktenzeichen source of the text-layer mails: "
          + ", ".join(f"{s} {k}" for s, k in sorted(mail.sources.items())))
    sources = Counter(str(o.source) for o in outcomes if o.status == "read")
    print("source of the correct scan readings: "
          + ", ".join(f"{s} {k}" for s, k in sorted(sources.items())))
    details = Counter(o.detail for o in outcomes if o.status != "read")
    if details:
        print("detail of the other readings: "
              + ", ".join(f"{d} {k}" for d, k in sorted(details.items())))

    _breakdown(outcomes, "rotation", "rotation", ROTATIONS)
    _breakdown(outcomes, "format", "fmt", FORMATS)
    _breakdown(outcomes, "dpi", "dpi", DPIS)

    misses = [o for o in outcomes if o.status != "read"]
    if misses:
        print("\nscans not read correctly (reproduce with kimfixtures.muster86):")
        for o in misses:
            got = f", returned {o.value}" if o.value is not None else ""
            print(f"- {o.status}: {o.case.call()} -> detail {o.detail}, "
                  f"{o.candidates} candidate(s){got}, {o.seconds:.2f} s")
    print()
    print("goals: " + "; ".join(f"{k} {_mark(v)}" for k, v in goals.items()))
    return all(goals.values())


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--scans", type=int, default=None,
                   help=f"scans in the accuracy corpus (default {DEFAULT_SCANS}, "
                        f"--quick {QUICK_SCANS})")
    p.add_argument("--mails", type=int, default=None,
                   help=f"text-layer mails (default {DEFAULT_MAILS}, --quick {QUICK_MAILS})")
    p.add_argument("--quick", action="store_true", help="a small run (24 scans, 20 mails)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help=f"corpus seed (default {DEFAULT_SEED})")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="worker processes for the scans (default os.cpu_count())")
    p.add_argument("--strict", action="store_true", help="exit 1 unless every goal is met")
    args = p.parse_args(argv)
    n_scans = args.scans if args.scans is not None else (
        QUICK_SCANS if args.quick else DEFAULT_SCANS)
    n_mails = args.mails if args.mails is not None else (
        QUICK_MAILS if args.quick else DEFAULT_MAILS)
    if n_scans < 1 or n_mails < 1 or args.workers < 1:
        p.error("--scans, --mails and --workers must be at least 1")

    command = ".venv/bin/python " + shlex.join(["benchmarks/kim_bench.py", *sys.argv[1:]])
    load_before = _load()
    print(f"seed: {args.seed}; building {n_mails} text-layer mails", flush=True)
    t0 = time.perf_counter()
    mails = build_mails(n_mails, args.seed)
    print(f"mails built in {time.perf_counter() - t0:.1f} s "
          f"({sum(len(m) for _, m in mails) / len(mails) / 1024:.0f} KiB/mail)", flush=True)
    allowed, pinned = pin_one_core()
    try:
        mail = run_mails(mails)
    finally:
        if allowed:
            os.sched_setaffinity(0, allowed)  # the pool gets every core
    print(f"mails: {mail.mails} in {mail.wall:.1f} s wall, {mail.cpu:.1f} s CPU", flush=True)

    cases = build_cases(n_scans, args.seed)
    outcomes, corpus_wall = run_corpus(cases, args.workers)
    header = [
        f"command: `{command}`",
        f"date: {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.machine()}, {os.cpu_count()} CPUs; tesseract "
        f"{pytesseract.get_tesseract_version()}",
        f"codec: {codec_state()}",
        f"mails: {pinned}; load average before: {load_before}",
    ]
    met = report(mail, outcomes, corpus_wall, args.workers, header)
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
