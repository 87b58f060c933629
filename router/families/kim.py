"""The KIM family: decrypted mails to a Medizinischer Dienst, routed by MiMa-Aktenzeichen.

``analyse`` is :func:`kimmail.analyse` (MIME, Muster 86 text layer / barcode / OCR, CDA):
expensive, table-free, so it runs in a pool of worker processes (PDFium is not
thread-safe, tesseract is CPU-bound). ``route`` joins the verdict with the live case table
``mima.cases`` (key Aktenzeichen, value ``{"topic": …, "kvnr": …}``):

* quarantined (a rule of the MD is violated) → ``kim.quarantine`` keyed by mail id, and a
  German notice for the sender on ``kim.notices`` keyed by the sender address;
* known case → its topic, keyed by Aktenzeichen (all mails of a case in order); a KVNR of
  the case that differs from the mail's → quarantine (KIM11);
* unknown case → ``kim.unmatched`` (compacted, keyed by mail id): held.

Hold and release: the held index is the live table of ``kim.unmatched`` (rebuilt from
the topic at start). When the case of a held mail appears, :meth:`KimFamily.release`
plans the mail for the case topic and, once that is acknowledged, a tombstone clears it
from ``kim.unmatched`` (a crash in between gives a duplicate with the same id, never a
loss).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import multiprocessing
import os
import time
from typing import Any

import msgspec

from kimmail import KimConfig, KimLimits, MailVerdict, MdConfig, analyse, reason
from kimmail.muster86 import FormLimits

from ..blobstore import BlobStore
from ..config import Config
from ..core.dlq import DeadLetters
from ..core.envelope import DocumentOut, KimEnvelope, ReasonOut, SourceRef, codec_for
from ..core.family import Tables, TableSpec
from ..core.headers import (
    ID_HEADER,
    NOTICE,
    QUARANTINE,
    RECORD_OVERHEAD,
    RELEASED,
    ROUTED,
    TOMBSTONE,
    TYPE_HEADER,
    UNMATCHED,
    VERDICT_HEADER,
)
from ..core.records import Header, InRecord, OutRecord
from ..core.stats import Stats
from ..core.tables import valid_topic

__all__ = ["CASES", "HELD", "CaseEntry", "CaseTable", "HeldIndex", "KimFamily", "TimedOut",
           "codec_config"]

log = logging.getLogger("stellwerk.kim")

#: Names of the live tables of this family.
CASES, HELD = "cases", "held"
HELD_VERDICT = "unmatched"


class CaseEntry(msgspec.Struct, frozen=True):
    """Value of a ``mima.cases`` record."""

    topic: str
    kvnr: str | None = None


_decode_case = msgspec.json.Decoder(CaseEntry).decode


class CaseTable:
    """Aktenzeichen → case topic (and KVNR), static entries from config overlaid by
    ``mima.cases`` (updates win, tombstones fall back to config).

    >>> t = CaseTable({"400000000482041289": "md.fall.a"})
    >>> t.lookup("400000000482041289").topic
    'md.fall.a'
    >>> t.apply(b"400000000482041290", b'{"topic": "md.fall.b", "kvnr": "A123456780"}')
    True
    >>> t.lookup("400000000482041290").kvnr
    'A123456780'
    """

    def __init__(self, static: dict[str, str] | None = None) -> None:
        self._static = {k: CaseEntry(v) for k, v in (static or {}).items()}
        self._cases: dict[str, CaseEntry] = dict(self._static)
        self.version = 0  # bumped on every change: the releaser looks again

    def lookup(self, aktenzeichen: str) -> CaseEntry | None:
        """The case of ``aktenzeichen`` or None (unknown: the mail is held)."""
        return self._cases.get(aktenzeichen)

    def apply(self, key: bytes | None, value: bytes | None) -> bool:
        """Apply one ``mima.cases`` record; False if malformed (ignored)."""
        if not key:
            return False
        ak = key.decode("latin-1")
        self.version += 1
        if value is None:
            if ak in self._static:
                self._cases[ak] = self._static[ak]
            else:
                self._cases.pop(ak, None)
            return True
        try:
            entry = _decode_case(value)
        except msgspec.DecodeError:
            return False
        if not valid_topic(entry.topic):
            self._cases.pop(ak, None)
            return False
        self._cases[ak] = entry
        return True

    def size(self) -> int:
        """Number of cases."""
        return len(self._cases)

    def topics(self) -> set[str]:
        """Case topics (created by the feed before use)."""
        return {c.topic for c in self._cases.values()}

    def refuse(self, topic: str, reason: str) -> list[str]:
        """Take cases routing to ``topic`` out of service: their mails are held."""
        keys = [k for k, c in self._cases.items() if c.topic == topic]
        for k in keys:
            del self._cases[k]
        log.error("case topic %s refused by the broker (%s); %d case(s) held", topic, reason,
                  len(keys))
        return keys


class HeldMail(msgspec.Struct, frozen=True):
    """One held mail as kept in ``kim.unmatched``: its Aktenzeichen and the record value."""

    aktenzeichen: str
    kvnr: str | None
    value: bytes


class HeldIndex:
    """Mail id → held mail, the live table of ``kim.unmatched`` (tombstones release)."""

    def __init__(self, fmt: str = "json") -> None:
        self._held: dict[str, HeldMail] = {}
        self._decode = codec_for("msgpack" if fmt == "msgpack" else "json")[1].decode
        self.version = 0

    def apply(self, key: bytes | None, value: bytes | None) -> bool:
        """Apply one ``kim.unmatched`` record; False if it is not a KIM envelope."""
        if not key:
            return False
        mail_id = key.decode("latin-1")
        self.version += 1
        if value is None:
            self._held.pop(mail_id, None)
            return True
        try:
            env = self._decode(value)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return False
        if not isinstance(env, KimEnvelope) or not env.aktenzeichen:
            return False
        self._held[mail_id] = HeldMail(env.aktenzeichen, env.kvnr, value)
        return True

    def held(self) -> dict[str, HeldMail]:
        """A copy of the index."""
        return dict(self._held)

    def size(self) -> int:
        """Number of held mails."""
        return len(self._held)

    def topics(self) -> set[str]:
        """Held mails route nowhere yet."""
        return set()

    def refuse(self, topic: str, reason: str) -> list[str]:
        """Nothing routes to a topic from here."""
        return []


class TimedOut(msgspec.Struct, frozen=True):
    """Analysis that did not finish within ``kim.mail_timeout`` (or whose worker died)."""

    why: str


def codec_config(config: Config) -> KimConfig:
    """The codec's configuration from the router's ``kim`` section."""
    k = config.kim
    return KimConfig(
        md=MdConfig(name=k.md_name, region=k.md_region, address=k.md_address,
                    aktenzeichen_pattern=k.aktenzeichen_pattern, sources=tuple(k.sources),
                    integrity_ok=tuple(k.integrity_ok)),
        limits=KimLimits(),
        form=FormLimits(ocr=k.ocr),
    )


def _worker_init() -> None:
    # Without it tesseract's OpenMP threads fight over 2 cores (measured ~10x slower).
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")


def _analyse_in_worker(raw: bytes, cfg: KimConfig) -> tuple[MailVerdict, float]:
    started = time.perf_counter()
    verdict = analyse(raw, cfg)
    return verdict, time.perf_counter() - started


class KimFamily:
    """Adapter of :mod:`kimmail` to the core."""

    name = "kim"

    def __init__(self, config: Config, blobs: BlobStore, dead_letters: DeadLetters) -> None:
        k = config.kim
        self.settings = k
        self.inputs: tuple[str, ...] = (k.inbound,)
        fmt = config.output_format
        self.tables: tuple[TableSpec, ...] = (
            TableSpec(CASES, k.cases_topic, lambda: CaseTable(k.cases)),
            TableSpec(HELD, k.unmatched, lambda: HeldIndex(fmt)),
        )
        self.blobs = blobs
        self._dlq = dead_letters
        self._cfg = codec_config(config)
        limits = config.limits
        self._inline_max = min(limits.inline_max_bytes, limits.max_record_bytes - 1024)
        self._encode, self._decode = codec_for(fmt)
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.stats = Stats()
        #: Mails handed to the pool and not finished (a gauge read at scrape time).
        self.in_flight = 0

    # ---- analysis ---------------------------------------------------------------------
    def analyse(self, rec: InRecord) -> MailVerdict | None:
        """The codec's verdict on the mail (None: empty record, for the DLQ)."""
        if not rec.value:
            return None
        verdict, seconds = _analyse_in_worker(rec.value, self._cfg)
        self._account(verdict, seconds, len(rec.value))
        return verdict

    def _account(self, v: MailVerdict, seconds: float, size: int) -> None:
        st = self.stats
        if st.enabled:
            st.sample(("stellwerk_kim_analysis_seconds", v.aktenzeichen_source or "none"),
                      seconds)
            st.count(("stellwerk_kim_pool_busy_seconds_total",), seconds)
            st.count(("stellwerk_parse_bytes_total", "kim"), size)

    def flush(self, stats: Stats) -> None:
        """Nothing kept aside: the KIM metrics go to ``stats`` as they happen (per mail,
        a rare event next to a PDF's analysis)."""

    def analyse_many(self, recs: list[InRecord]) -> asyncio.Future[list[Any]] | None:
        """Analyse in the worker pool; None (inline) with ``kim.workers`` 0."""
        if self.settings.workers <= 0:
            return None
        return asyncio.ensure_future(self._analyse_pool(recs))

    async def _analyse_pool(self, recs: list[InRecord]) -> list[Any]:
        pool = self._ensure_pool()
        futs = {i: asyncio.wrap_future(pool.submit(_analyse_in_worker, r.value, self._cfg))
                for i, r in enumerate(recs) if r.value}
        self.in_flight += len(futs)
        try:
            return await self._collect(recs, futs)
        finally:
            self.in_flight -= len(futs)

    async def _collect(self, recs: list[InRecord],
                       futs: dict[int, asyncio.Future[tuple[MailVerdict, float]]]
                       ) -> list[Any]:
        loop = asyncio.get_running_loop()
        # One deadline for the batch: every mail may use mail_timeout of a worker, so the
        # batch (and the time until the next poll) is bounded even when workers hang.
        budget = self.settings.mail_timeout * -(-len(futs) // max(1, self.settings.workers))
        pending: set[asyncio.Future[tuple[MailVerdict, float]]] = set()
        if futs:
            _, pending = await asyncio.wait(futs.values(), timeout=budget)
        out: list[Any] = [None] * len(recs)
        broken = bool(pending)
        for i, fut in futs.items():
            rec = recs[i]
            if fut in pending:
                fut.cancel()
                log.error("mail analysis exceeded %.0fs topic=%s partition=%d offset=%d; "
                          "quarantined (KIM27)", self.settings.mail_timeout, rec.topic,
                          rec.partition, rec.offset)
                out[i] = TimedOut("timeout")
            elif isinstance(fut.exception(), concurrent.futures.process.BrokenProcessPool):
                log.error("analysis worker died topic=%s partition=%d offset=%d; "
                          "quarantined (KIM27)", rec.topic, rec.partition, rec.offset)
                out[i] = TimedOut("worker")
                broken = True
            elif fut.exception() is not None:
                # analyse never raises; an error here is the pool's (pickling, memory).
                log.error("analysis failed topic=%s partition=%d offset=%d (%s); "
                          "quarantined (KIM27)", rec.topic, rec.partition, rec.offset,
                          type(fut.exception()).__name__)
                out[i] = TimedOut("error")
            else:
                out[i], seconds = fut.result()
                self._account(out[i], seconds, len(rec.value or b""))
        if broken:
            # A stuck worker (PDF renderer, OCR) holds its process: replace the pool.
            await loop.run_in_executor(None, self._kill_pool)
        return out

    def _ensure_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.settings.workers, initializer=_worker_init,
                mp_context=multiprocessing.get_context("forkserver"))
        return self._pool

    def _kill_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the worker pool (at shutdown); workers still busy are killed."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.join(timeout=2.0)
            if proc.is_alive():
                proc.kill()
        # Joins the pool's management thread: nothing left for the interpreter's exit hook.
        pool.shutdown(wait=True)

    # ---- routing ----------------------------------------------------------------------
    def route(self, rec: InRecord, analysis: Any, tables: Tables) -> list[OutRecord]:
        """Outputs of one mail: quarantine + notice, case topic, or held."""
        if analysis is None:
            return [self._dlq.record(rec, "KIM00", "leerer Datensatz (keine Mail)")]
        if isinstance(analysis, TimedOut):
            analysis = self._timed_out(rec)
        v: MailVerdict = analysis
        if v.verdict != "accepted":
            return self._quarantine(rec, v, v.reasons)
        assert v.aktenzeichen is not None  # accepted mails always carry one
        case = tables.get(CASES, CaseTable).lookup(v.aktenzeichen)
        if case is None:
            env = self._envelope(rec, v, HELD_VERDICT, "")
            return [self._out(self.settings.unmatched, v.mail_id, env, UNMATCHED)]
        if case.kvnr and v.kvnr and case.kvnr != v.kvnr:
            return self._quarantine(rec, v, (*v.reasons, reason("KIM11")))
        env = self._envelope(rec, v, "accepted", case.topic)
        return [self._out(case.topic, v.aktenzeichen, env, ROUTED)]

    def _timed_out(self, rec: InRecord) -> MailVerdict:
        raw = rec.value or b""
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        return MailVerdict(message_id=None, mail_id=digest, verdict="quarantined",
                           aktenzeichen=None, aktenzeichen_source=None,
                           md=self._cfg.md.name, insured_count=0, kvnr=None,
                           reasons=(reason("KIM27"),), notice=None,
                           attachments=(), sender="")

    def _quarantine(self, rec: InRecord, v: MailVerdict, reasons: tuple[Any, ...]
                    ) -> list[OutRecord]:
        env = msgspec.structs.replace(self._envelope(rec, v, "quarantined", ""),
                                      reasons=[ReasonOut(r.code, r.severity, r.text)
                                               for r in reasons])
        out = [self._out(self.settings.quarantine, v.mail_id, env, QUARANTINE)]
        codes = [r.code for r in reasons if r.severity == "error"]
        notice = {"id": f"notice:{v.mail_id}", "mail_id": v.mail_id,
                  "message_id": v.message_id, "md": v.md, "to": v.sender, "codes": codes,
                  "text": " ".join(t for t in (v.notice, *(_ROUTER_NOTICES.get(c, "")
                                                            for c in codes)) if t)}
        headers: tuple[Header, ...] = ((ID_HEADER, f"notice:{v.mail_id}".encode()),
                                       (TYPE_HEADER, b"kim-notice"))
        out.append(OutRecord(self.settings.notices, v.sender.encode() or None,
                             msgspec.json.encode(notice), headers, NOTICE, "kim",
                             "quarantined"))
        return out

    def _envelope(self, rec: InRecord, v: MailVerdict, verdict: str, route: str
                  ) -> KimEnvelope:
        return KimEnvelope(
            id=f"kim:{v.mail_id}", message_id=v.message_id or "",
            aktenzeichen=v.aktenzeichen, aktenzeichen_source=v.aktenzeichen_source,
            md=v.md, verdict=verdict,
            reasons=[ReasonOut(r.code, r.severity, r.text) for r in v.reasons],
            documents=[DocumentOut(a.filename, a.role, a.content_type, a.size, a.sha256)
                       for a in v.attachments],
            insured_count=v.insured_count, kvnr=v.kvnr, sender=v.sender,
            source=SourceRef(rec.topic, rec.partition, rec.offset), raw=rec.value or b"",
            route=route)

    def _out(self, topic: str, key: str, env: KimEnvelope, kind: str) -> OutRecord:
        value = self._encode.encode(env)
        if len(value) + RECORD_OVERHEAD > self._inline_max and env.raw:
            # Claim check: the mail goes to the blob store, the envelope keeps the rest.
            ref = self.blobs.put(env.raw)
            value = self._encode.encode(msgspec.structs.replace(env, raw=b"", raw_blob=ref))
        headers: tuple[Header, ...] = ((ID_HEADER, env.id.encode()), (TYPE_HEADER, b"kim"),
                                       (VERDICT_HEADER, env.verdict.encode()))
        return OutRecord(topic, key.encode(), value, headers, kind, "kim", env.verdict,
                         tuple(r.code for r in env.reasons))

    # ---- hold and release -------------------------------------------------------------
    def release(self, tables: Tables, skip: set[str]) -> list[tuple[str, OutRecord]]:
        """(mail id, output) for every held mail whose case is known now, except ``skip``
        (released already, tombstone not yet read back). Output: the case topic, or the
        quarantine when the case's KVNR differs."""
        cases = tables.get(CASES, CaseTable)
        out: list[tuple[str, OutRecord]] = []
        for mail_id, held in tables.get(HELD, HeldIndex).held().items():
            if mail_id in skip:
                continue
            case = cases.lookup(held.aktenzeichen)
            if case is None:
                continue
            try:
                env = self._decode.decode(held.value)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            if not isinstance(env, KimEnvelope):
                continue
            if case.kvnr and env.kvnr and case.kvnr != env.kvnr:
                r = reason("KIM11")
                env = msgspec.structs.replace(
                    env, verdict="quarantined",
                    reasons=[*env.reasons, ReasonOut(r.code, r.severity, r.text)])
                out.append((mail_id, self._requeue(self.settings.quarantine, mail_id, env,
                                                   QUARANTINE)))
                continue
            env = msgspec.structs.replace(env, verdict="accepted", route=case.topic)
            out.append((mail_id, self._requeue(case.topic, held.aktenzeichen, env, RELEASED)))
        return out

    def _requeue(self, topic: str, key: str, env: KimEnvelope, kind: str) -> OutRecord:
        # The held value may carry a claim check already; re-encode without re-checking.
        headers: tuple[Header, ...] = ((ID_HEADER, env.id.encode()), (TYPE_HEADER, b"kim"),
                                       (VERDICT_HEADER, env.verdict.encode()))
        return OutRecord(topic, key.encode(), self._encode.encode(env), headers, kind, "kim",
                         env.verdict)

    def tombstone(self, mail_id: str) -> OutRecord:
        """The record that clears a released mail from ``kim.unmatched``."""
        return OutRecord(self.settings.unmatched, mail_id.encode(), None,
                         ((ID_HEADER, f"kim:{mail_id}".encode()),), TOMBSTONE)


#: Sender notices of the rules the router itself applies (the codec words the rest).
_ROUTER_NOTICES = {
    "KIM11": "Die Versichertennummer passt nicht zum Auftrag des Aktenzeichens. Bitte "
             "prüfen Sie Weiterleitungsbogen (Muster 86) und Unterlagen und senden Sie "
             "sie erneut.",
    "KIM27": "Die Mail konnte nicht in angemessener Zeit verarbeitet werden. Bitte senden "
             "Sie die Unterlagen in mehreren kleineren Mails, jeweils mit dem "
             "Weiterleitungsbogen (Muster 86).",
}

