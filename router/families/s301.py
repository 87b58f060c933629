"""The §301 family: EDIFACT interchanges from ``s301.inbound`` (and replays). No I/O.

Every input record ends somewhere a person can find and replay it:

* each message (UNH … UNT) → exactly one of: the carrier topic of its receiver IK
  (routed), ``s301.rejected``, ``s301.unroutable``, ``s301.test``;
* an interchange without any message (but with UNB) → one ``message: 0`` envelope on
  ``s301.rejected``;
* a record that is not an interchange at all → ``stellwerk.dlq``, original bytes;
* replies (FEHL, KOUB) additionally → ``s301.replies``, keyed by the hospital's IK.

Envelopes re-injected by ``stellwerk replay`` arrive on the replay topic
(``stellwerk.replay``) with the header ``stellwerk-envelope``; only there are they routed
again (live table, same id). On any other topic the header is ignored and the value is
validated as an interchange: a producer to ``s301.inbound`` cannot forge an "accepted"
envelope past validation.

Size: an output above ``limits.inline_max_bytes`` carries a claim-check reference to the
blob store instead of the bytes (``raw_blob`` in envelopes, header ``stellwerk-blob`` on
DLQ records), so no record can exceed what the broker accepts.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from time import perf_counter
from typing import Any

import msgspec

from sgb301 import (
    ACCEPTED,
    MESSAGE_TYPES,
    REJECTED,
    InterchangeReport,
    MessageVerdict,
    ReplyError,
    ValidationOptions,
    Validator,
    Violation,
    scan,
)
from sgb301.model import fields_in_order
from sgb301.replies import build_reply, input_digest, needs_reply, reference_of

from ..blobstore import BlobStore
from ..config import Config
from ..core.dlq import DeadLetters
from ..core.envelope import (
    S301Envelope,
    SourceRef,
    codec_for,
    content_id,
    content_prefix,
    error_out,
)
from ..core.family import Tables, TableSpec
from ..core.headers import (
    ANSWERS_HEADER,
    ENVELOPE_HEADER,
    ID_HEADER,
    RECORD_OVERHEAD,
    REJECT,
    REPLY,
    ROUTED,
    TEST,
    TYPE_HEADER,
    UNROUTABLE,
    VERDICT_HEADER,
)
from ..core.records import Header, InRecord, OutRecord
from ..core.stats import Stats
from ..core.tables import RoutingTable

__all__ = ["ROUTES", "S301Family", "label_type"]

#: Name of the live routing table (receiver IK → carrier topic).
ROUTES = "routes"
_REROUTE = "reroute"  # analysis marker: a held envelope from the replay topic
_EMPTY = "empty"      # analysis marker: a record without a value


@lru_cache(maxsize=64)
def _record_minute(minute: int) -> dt.datetime:
    """The naive UTC datetime of a record timestamp's minute (``ms // 60_000``): a
    reply's dates have minutes at most, and the records of a minute share it."""
    return dt.datetime.fromtimestamp(minute * 60, tz=dt.UTC).replace(tzinfo=None)


def label_type(mtype: str) -> str:
    """The message type as a metric label: a bounded set (the §301 types, ``other`` for
    whatever a broken UNH claims, ``none`` for file-level records).

    >>> label_type("AUFN"), label_type("X'; DROP"), label_type("")
    ('AUFN', 'other', 'none')
    """
    if mtype in MESSAGE_TYPES:
        return mtype
    return "other" if mtype else "none"


#: An output's (topic, kind, type label, verdict). Optional, though never None once
#: set: mypyc keeps a union boxed, so one tuple object is handed on as it is; a plain
#: tuple type (or a union narrowed to it) is unboxed and boxed anew, a new object.
_Shape = tuple[str, str, str, str] | None


class _Known:
    """A §301 message type's header value and metric label, and the shape of its last
    output. The shape is reused while topic, kind and verdict are the same objects (they
    come from the configuration, the routing table and constants): the loop counts a
    batch's outputs by shape, and a shape it has seen before compares by identity
    (109 against 184 ns per output)."""

    __slots__ = ("header", "label", "shape")

    def __init__(self, mtype: str) -> None:
        self.header = mtype.encode()
        self.label = mtype
        self.shape: _Shape = None

    def shape_of(self, topic: str, kind: str, verdict: str) -> _Shape:
        """``(topic, kind, label, verdict)``, the last one if it is that."""
        shape = self.shape
        if shape is None or shape[0] is not topic or shape[1] is not kind or (
                shape[3] is not verdict):
            self.shape = (topic, kind, self.label, verdict)
        return self.shape  # the attribute, not the narrowed local (see _Shape)


_VERDICTS: dict[str, bytes] = {v: v.encode() for v in (ACCEPTED, REJECTED)}


_ENVELOPE_FIELDS = ("id", "type", "version", "reference", "sender_ik", "receiver_ik", "case",
                    "verdict", "errors", "source", "message", "interchange", "test", "raw",
                    "route", "raw_blob", "note")
fields_in_order(S301Envelope, _ENVELOPE_FIELDS)


class _ParseStats:
    """Parse durations of the timed records since the last flush: per raw message type
    three lists (decode seconds, validate seconds, segments)."""

    __slots__ = ("by_type", "labels")

    def __init__(self) -> None:
        self.by_type: dict[str, tuple[list[float], list[float], list[float]]] = {}
        self.labels: dict[str, str] = {}

    def new(self, label: str, mtype: str) -> tuple[list[float], list[float], list[float]]:
        lists: tuple[list[float], list[float], list[float]] = ([], [], [])
        self.by_type[mtype] = lists
        self.labels[mtype] = label
        return lists

    def labelled(self) -> list[tuple[str, tuple[list[float], list[float], list[float]]]]:
        """(label, lists) — raw types that share a label (``other``) are merged."""
        out: dict[str, tuple[list[float], list[float], list[float]]] = {}
        for mtype, lists in self.by_type.items():
            label = self.labels[mtype]
            if label in out:
                for mine, theirs in zip(out[label], lists, strict=True):
                    mine.extend(theirs)
            else:
                out[label] = lists
        return list(out.items())


class S301Family:
    """Decode → validate → route → answer, for one interchange at a time."""

    name = "s301"

    def __init__(self, config: Config, blobs: BlobStore, dead_letters: DeadLetters,
                 routes: RoutingTable | None = None) -> None:
        self.config = config
        self.topics = config.topics
        self.inputs: tuple[str, ...] = (config.topics.inbound, config.topics.replay)
        static = routes if routes is not None else RoutingTable(config.routes)
        self.tables: tuple[TableSpec, ...] = (
            TableSpec(ROUTES, config.topics.routes, lambda: static),)
        self.blobs = blobs
        self._dlq = dead_letters
        limits = config.limits
        self._inline_max = min(limits.inline_max_bytes, limits.max_record_bytes - 1024)
        self._opts = ValidationOptions(mode=config.mode, responsibility=config.responsibility)
        self._validator = Validator(self._opts)
        # per §301 type (bounded: a broken UNH's type is not remembered)
        self._known = {t: _Known(t) for t in MESSAGE_TYPES}
        self._reply_shape: _Shape = (config.topics.replies, REPLY, "", "")
        self._encode, self._decode = codec_for(config.output_format)
        self._format = config.output_format.encode()
        self.stats = Stats()
        self._parse = _ParseStats()
        self._sample_every = max(1, config.metrics_sample)
        self._records = -1  # the first record (of each batch: see flush) is timed
        self._flushed = (0, 0, 0)  # the validator's bytes, messages, exact at the last flush

    # ---- entry ------------------------------------------------------------------------
    def analyse(self, rec: InRecord) -> InterchangeReport | str:
        """The validation report of the interchange (or a marker for replays/empties)."""
        if rec.topic == self.topics.replay and any(k == ENVELOPE_HEADER
                                                   for k, _ in rec.headers):
            return _REROUTE
        if not rec.value:
            return _EMPTY
        if not self.stats.enabled:
            return self._validator.validate(rec.value)
        # The first record of a batch is timed, then one in sample_every (see _account):
        # quiet traffic (batches of a record or two) is timed record by record, a full
        # batch is sampled. Counts come from the validator's own counters at flush time.
        self._records += 1
        if self._records % self._sample_every:
            return self._validator.validate(rec.value)
        buf = bytes(rec.value)
        t0 = perf_counter()
        ic = scan(buf)
        t1 = perf_counter()
        report = self._validator.check(buf, ic)
        self._account(report, t1 - t0, perf_counter() - t1)
        return report

    def _account(self, report: InterchangeReport, decode: float, validate: float) -> None:
        """Durations of one timed interchange, into plain lists (one batch's worth;
        :meth:`flush` hands them on): each message gets an equal share of the tokenizing
        and validation time, under its own type.

        Only the first record of a batch and one in ``metrics_sample`` after it are
        timed: three clock reads and three appends per record would cost more than the
        metrics may (< 3 % of the hot path); the quantiles stay what they are, the
        counts (bytes, messages, paths) are exact."""
        p = self._parse
        messages = report.messages
        n = len(messages)
        if n == 1:  # the usual record: one message
            v = messages[0]
            lists = p.by_type.get(v.type) or p.new(label_type(v.type), v.type)
            lists[0].append(decode)
            lists[1].append(validate)
            lists[2].append(report.interchange.messages[0].segments)
            return
        for v, span in zip(messages, report.interchange.messages, strict=False):
            lists = p.by_type.get(v.type) or p.new(label_type(v.type), v.type)
            lists[0].append(decode / n)
            lists[1].append(validate / n)
            lists[2].append(span.segments)

    def flush(self, stats: Stats) -> None:
        """Hand the parsing metrics gathered since the last flush to ``stats``."""
        p, self._parse = self._parse, _ParseStats()
        self._records = -1  # the next batch's first record is timed
        v = self._validator
        now = (v.bytes, v.messages, v.exact)
        size, messages, exact = (a - b for a, b in zip(now, self._flushed, strict=True))
        self._flushed = now
        if not messages and not size:
            return
        stats.count(("stellwerk_parse_bytes_total", "s301"), size)
        stats.count(("stellwerk_parse_path_total", "s301", "exact"), exact)
        stats.count(("stellwerk_parse_path_total", "s301", "fast"), messages - exact)
        for label, (dec, val, segs) in p.labelled():
            stats.extend(("stellwerk_parse_decode_seconds", "s301", label), dec)
            stats.extend(("stellwerk_parse_validate_seconds", "s301", label), val)
            stats.extend(("stellwerk_parse_segments", label), segs)

    def analyse_many(self, recs: list[InRecord]) -> None:
        """Validation is fast: it runs inline, in the loop."""
        return None

    def route(self, rec: InRecord, analysis: Any, tables: Tables) -> list[OutRecord]:
        """All output records for ``rec`` (never raises for bad input)."""
        self.routes = tables.get(ROUTES, RoutingTable)
        if analysis is _REROUTE:  # the markers are these objects (no struct __eq__)
            return self._reroute(rec)
        if analysis is _EMPTY:
            return [self._dlq.record(rec, "1SW01", "leerer Datensatz (kein Wert)")]
        report: InterchangeReport = analysis
        ic = report.interchange
        if not ic.has_unb:
            first = report.file_errors[0] if report.file_errors else None
            return [self._dlq.record(rec, first.code if first else "10066",
                                     first.text if first else "kein UNB")]
        # shared by the messages of the record: where it was read, and the start of their
        # ids (each message adds its reference and digest in content_id's form)
        source = SourceRef(rec.topic, rec.partition, rec.offset)
        prefix = content_prefix("s301", ic.sender_ik, ic.reference)
        out = [self._message_record(rec, report, v, source, prefix) for v in report.messages]
        if not report.messages:
            out.append(self._file_record(rec, report))
        reply = self._reply(rec, report)
        if reply is not None:
            out.append(reply)
        return out

    # ---- messages ---------------------------------------------------------------------
    def _message_record(self, rec: InRecord, report: InterchangeReport,
                        v: MessageVerdict, source: SourceRef, prefix: str) -> OutRecord:
        assert rec.value is not None
        ic = report.interchange
        raw = rec.value[v.start : v.end]
        errors: tuple[Violation, ...] = (
            (*report.file_errors, *v.errors) if report.file_errors else v.errors)
        topic, kind, route = self._terminal(v.verdict, v.test, v.receiver_ik)
        key = (v.sender_ik or ic.sender_ik) if kind == REJECT else v.receiver_ik
        note = self.routes.problem(v.receiver_ik) if kind == UNROUTABLE else ""
        # positionally, in the order of _ENVELOPE_FIELDS
        env = S301Envelope(
            prefix + v.reference + ":" + input_digest(raw).hex(), v.type, v.version,
            v.reference, v.sender_ik, v.receiver_ik, v.case, v.verdict,
            [error_out(e) for e in errors] if errors else [], source, v.message,
            ic.reference, v.test, raw.decode("latin-1"), route, "", note)
        return self._out(topic, key, env, kind)

    def _terminal(self, verdict: str, test: bool, receiver_ik: str) -> tuple[str, str, str]:
        """(topic, kind, route) of a message: rejected, test, routed or unroutable."""
        if verdict == REJECTED:
            return self.topics.rejected, REJECT, ""
        if test:
            return self.topics.test, TEST, ""
        route = self.routes.lookup(receiver_ik) or ""
        if route:
            return route, ROUTED, route
        return self.topics.unroutable, UNROUTABLE, ""

    def _file_record(self, rec: InRecord, report: InterchangeReport) -> OutRecord:
        assert rec.value is not None
        ic = report.interchange
        env = S301Envelope(
            id=content_id("s301", ic.sender_ik, ic.reference, "0", content=rec.value),
            type="", version="", reference="", sender_ik=ic.sender_ik,
            receiver_ik=ic.receiver_ik, case="", verdict=REJECTED,
            errors=[error_out(e) for e in report.file_errors],
            source=SourceRef(rec.topic, rec.partition, rec.offset), message=0,
            interchange=ic.reference, test=report.test, raw=rec.value.decode("latin-1"),
        )
        return self._out(self.topics.rejected, ic.sender_ik, env, REJECT)

    def _out(self, topic: str, key: str, env: S301Envelope, kind: str) -> OutRecord:
        mtype = env.type
        known = self._known.get(mtype)  # the usual case: no encoding, no label_type
        headers: tuple[Header, ...] = (
            (ID_HEADER, env.id.encode()),
            (TYPE_HEADER, known.header if known is not None else mtype.encode()),
            (VERDICT_HEADER, _VERDICTS.get(env.verdict) or env.verdict.encode()),
        )
        value = self._encode.encode(env)
        if len(value) + RECORD_OVERHEAD > self._inline_max and env.raw:
            # Claim check: the bytes go to the blob store, the envelope keeps the rest.
            ref = self.blobs.put(env.raw.encode("latin-1"))
            value = self._encode.encode(msgspec.structs.replace(env, raw="", raw_blob=ref))
        verdict = env.verdict
        shape: _Shape
        if known is not None:
            label = known.label
            shape = known.shape_of(topic, kind, verdict)
        else:
            label = label_type(mtype) if mtype else ""
            shape = (topic, kind, label, verdict)
        return OutRecord(topic, key.encode() if key else None, value, headers, kind, label,
                         verdict, tuple([e.code for e in env.errors]) if env.errors else (),
                         shape)

    # ---- replies ----------------------------------------------------------------------
    def _reply(self, rec: InRecord, report: InterchangeReport) -> OutRecord | None:
        assert rec.value is not None
        if not needs_reply(report, self.config.mode):
            return None
        # Record time, not wall time: a replay builds the same reply. One digest of the
        # input numbers the reply and names it.
        digest = input_digest(rec.value)
        try:
            reply = build_reply(rec.value, report, now=_record_minute(rec.timestamp // 60_000),
                                mode=self.config.mode, reference=reference_of(digest))
        except ReplyError:
            return None
        if reply is None:
            return None
        ic = report.interchange
        rid = content_id("reply", ic.sender_ik, ic.reference, digest=digest)
        headers: tuple[Header, ...] = (
            (ID_HEADER, rid.encode()),
            (TYPE_HEADER, " ".join(reply.kinds).encode()),
            # The reply has its own Dateinummer; this names the interchange it answers.
            (ANSWERS_HEADER, ic.reference.encode("latin-1")),
        )
        return OutRecord(self.topics.replies, reply.receiver_ik.encode(), reply.interchange,
                         headers, REPLY, shape=self._reply_shape)

    # ---- held records -----------------------------------------------------------------
    def _reroute(self, rec: InRecord) -> list[OutRecord]:
        """A held envelope replayed after a fix: route it again, same id."""
        fmt = dict(rec.headers).get(ENVELOPE_HEADER, self._format)
        try:
            _, decode = codec_for("msgpack" if fmt == b"msgpack" else "json")
            env = decode.decode(rec.value or b"")
        except Exception:  # a malformed replay is held, not lost
            return [self._dlq.record(rec, "SW997", "wiedereingespieltes Envelope nicht lesbar")]
        if not isinstance(env, S301Envelope):
            # KIM mails are replayed raw to kim.inbound (``stellwerk replay`` does so).
            return [self._dlq.record(rec, "SW997", "kein §301-Envelope")]
        topic, kind, route = self._terminal(env.verdict, env.test, env.receiver_ik)
        note = self.routes.problem(env.receiver_ik) if kind == UNROUTABLE else ""
        env = msgspec.structs.replace(env, route=route, note=note)
        key = env.sender_ik if kind == REJECT else env.receiver_ik
        return [self._out(topic, key, env, kind)]

