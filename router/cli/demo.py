"""``stellwerk demo``: the main job on one machine.

Starts the embedded broker, creates the topics, sends the published DGUV examples plus
production variants and faulty ones to ``s301.inbound`` and generated KIM mails to
``kim.inbound`` (Muster 86 with text layer, scanned and rotated, faulty mails, one for a
case that is not known yet), runs the router until every expected output is on its
topic — announcing the missing case on ``mima.cases`` once its mail is held, so that it
is released — prints a table of records per output topic and one of the KIM mails, and
exits 0 (1 on a mismatch). The expected outputs come from the pure pipeline on the same
inputs, so the table is also a check that the Kafka run lost nothing.

The KIM mails are built by the fixture generators of the test suite
(``tests/kimfixtures``); without them (an installed wheel) the demo runs §301 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from sgb301 import ik_check_digit
from sgb301.examples import load, message, wrap

from ..app import run_async, serve
from ..config import Config, load_config
from ..core.headers import ID_HEADER, UNMATCHED
from ..core.records import InRecord, OutRecord
from ..families import build_pipeline
from ..kafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition, ensure_topics
from ..kafka.broker import EmbeddedBroker
from ..logs import configure_logging

__all__ = ["KimDemoMail", "demo_inputs", "demo_main", "kim_demo_mails"]

log = logging.getLogger("stellwerk.demo")

HOSPITAL = "260510223"
BGHW = "12051098" + str(ik_check_digit("12051098"))  # a UV-Träger with a route
UNKNOWN = "12061098" + str(ik_check_digit("12061098"))  # valid IK, no route


def _production(name: str, receiver: str, **edits: bytes) -> bytes:
    msg = message(name).replace(b"120591481", receiver.encode())
    for old, new in edits.items():
        msg = msg.replace(old.encode(), new)
    return wrap(msg, sender=HOSPITAL, receiver=receiver, application_reference="EUVK0001")


def demo_inputs() -> list[tuple[str, bytes]]:
    """(label, record value) for every demo input."""
    out = [(f"seed {name} (UV test operation)", data) for name, data in load().items()]
    out += [
        ("AUFN to a UV-Träger with a route", _production("8.1.1-AUFN", BGHW)),
        ("ENTL to a UV-Träger with a route", _production("8.1.1-ENTL", BGHW)),
        ("AUFN to an IK without route", _production("8.1.2-AUFN", UNKNOWN)),
        ("AUFN with Verarbeitungskennzeichen 99 (34U05)",
         _production("8.1.2-AUFN", BGHW, **{"FKT+10+": b"FKT+99+"})),
        ("AUFN with Aufnahmegrund 0101 (34U03)",
         _production("8.1.2-AUFN", BGHW, **{"+0102+": b"+0101+"})),
        ("AMBO message (34U10)", _production("8.1.2-AUFN", BGHW, **{"AUFN:": b"AMBO:"})),
        ("AUFN version 11 (24U01)", _production("8.1.2-AUFN", BGHW, **{"AUFN:13": b"AUFN:11"})),
        ("interchange with wrong UNZ count (Prüfstufe 1)",
         _production("8.1.1-AUFN", BGHW).replace(b"UNZ+1+", b"UNZ+2+")),
        ("not an interchange at all", b"%PDF-1.7 this is not EDIFACT"),
    ]
    return out


#: Aktenzeichen of the demo cases: A is configured, B is on ``mima.cases`` at start,
#: C appears on ``mima.cases`` only once its mail is held.
AK_A, AK_B, AK_C = "400000000482041289", "400000000482041297", "400000000482041305"
CASE_TOPICS = {AK_A: "md.fall.a", AK_B: "md.fall.b", AK_C: "md.fall.c"}


class KimDemoMail(msgspec.Struct, frozen=True):
    """One generated KIM mail of the demo."""

    label: str
    raw: bytes


def kim_demo_mails() -> list[KimDemoMail]:
    """The demo's KIM mails; empty when the fixture generators are not available."""
    tests = Path(__file__).resolve().parents[2] / "tests"
    if (tests / "kimfixtures").is_dir() and str(tests) not in sys.path:
        sys.path.insert(0, str(tests))
    try:  # a checkout's test generators, not part of the installed package
        gen = importlib.import_module("kimfixtures.mails")
        forms = importlib.import_module("kimfixtures.muster86")
    except ImportError:
        return []
    kim_mail, muster86_pdf, muster86_scan = gen.kim_mail, forms.muster86_pdf, forms.muster86_scan
    return [
        KimDemoMail("Muster 86 with text layer, case A (configured)",
                    kim_mail(muster86=muster86_pdf(AK_A), subject="Unterlagen A")),
        KimDemoMail("Muster 86 scanned as JPEG, rotated 90°, case B (mima.cases)",
                    kim_mail(muster86=muster86_scan(AK_B, rotation=90, skew=1.5, noise=0.2,
                                                    seed=3),
                             muster86_media="image/jpeg", muster86_name="scan.jpg",
                             subject="Unterlagen B")),
        KimDemoMail("Muster 86 for case C, not known yet: held, then released",
                    kim_mail(muster86=muster86_pdf(AK_C), subject="Unterlagen C")),
        KimDemoMail("documents without Muster 86 (KIM01)",
                    kim_mail(muster86=None, subject="ohne Weiterleitungsbogen")),
        KimDemoMail("decryption failed in the client module (KIM03)",
                    kim_mail(muster86=muster86_pdf(AK_A), decryption=("00", "02"),
                             subject="Unterlagen A, nicht entschlüsselt")),
        KimDemoMail("sent to another MD's mailbox (KIM08)",
                    kim_mail(muster86=muster86_pdf(AK_A), to="befunde@md-bayern.kim.telematik",
                             subject="Unterlagen A, falsches Postfach")),
    ]


def _case_value(topic: str) -> bytes:
    return msgspec.json.encode({"topic": topic})


async def _collect(bootstrap: str, topics: list[str], expected: Counter[str], timeout: float,
                   on_record: Callable[[str, dict[str, bytes]], Awaitable[None]]
                   ) -> Counter[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=1 << 24,
                                fetch_max_bytes=1 << 26)
    await consumer.start()
    seen: Counter[str] = Counter()
    try:
        await consumer.topics()
        tps = [TopicPartition(t, p) for t in topics
               for p in (consumer.partitions_for_topic(t) or {0})]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout
        while seen != expected and time.monotonic() < deadline:
            for tp, recs in (await consumer.getmany(timeout_ms=300)).items():
                seen[tp.topic] += len(recs)
                for r in recs:
                    await on_record(tp.topic, {k: bytes(v) for k, v in (r.headers or ())})
    finally:
        await consumer.stop()
    return seen


def _mail_id(stellwerk_id: bytes) -> str:
    """The mail id behind ``kim:…`` (envelopes) and ``notice:kim:…`` (notices)."""
    return stellwerk_id.decode().removeprefix("notice:").removeprefix("kim:")


def _expect(outputs: list[OutRecord], expected: Counter[str], kim: dict[str, list[str]],
            release_to: str, unmatched: str) -> None:
    for o in outputs:
        expected[o.topic] += 1
        if o.mtype != "kim":
            continue
        kim.setdefault(_mail_id(dict(o.headers)[ID_HEADER]), []).append(o.topic)
        if o.kind == UNMATCHED:  # released later: the case topic, then a tombstone
            expected[release_to] += 1
            expected[unmatched] += 1


async def _demo(config: Config, bootstrap: str, mails: list[KimDemoMail]) -> int:
    inputs = demo_inputs()
    k = config.kim
    pure = build_pipeline(config, kim=bool(mails))
    if mails:
        pure.tables.table("cases").apply(AK_B.encode(), _case_value(CASE_TOPICS[AK_B]))
    expected: Counter[str] = Counter()
    planned: dict[str, list[str]] = {}  # mail id -> topics
    for i, (_, value) in enumerate(inputs):
        _expect(pure.process(InRecord(config.topics.inbound, 0, i, None, value, 0)),
                expected, planned, "", "")
    mail_ids: list[str] = []
    for i, m in enumerate(mails):
        outs = pure.process(InRecord(k.inbound, 0, i, None, m.raw, 0))
        mail_ids.append(_mail_id(dict(outs[0].headers)[ID_HEADER]))
        _expect(outs, expected, planned, CASE_TOPICS[AK_C], k.unmatched)
    # The case topics exist before the demo's reader assigns their partitions (a topic
    # the broker auto-creates later would be read on partition 0 only).
    await ensure_topics(config, bootstrap, extra=tuple(sorted(set(CASE_TOPICS.values()))))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                max_request_size=1 << 24)
    await producer.start()
    try:
        futures = [await producer.send(config.topics.inbound, value) for _, value in inputs]
        futures += [await producer.send(k.inbound, m.raw) for m in mails]
        if mails:
            futures.append(await producer.send(k.cases_topic, _case_value(CASE_TOPICS[AK_B]),
                                               key=AK_B.encode()))
        await asyncio.gather(*futures)
        log.info("sent %d records to %s, %d mails to %s", len(inputs), config.topics.inbound,
                 len(mails), k.inbound)
        stop = asyncio.Event()
        router = asyncio.create_task(serve(config, bootstrap, stop))
        routed: dict[str, list[str]] = {}
        announced = False

        async def on_record(topic: str, headers: dict[str, bytes]) -> None:
            nonlocal announced
            mail_id = _mail_id(headers.get(ID_HEADER, b""))
            if mail_id in planned:
                path = routed.setdefault(mail_id, [])
                # the second record of a mail on kim.unmatched is the tombstone that
                # clears it once released
                path.append(f"{topic} (tombstone)" if topic in path else topic)
            if topic == k.unmatched and not announced:
                # the held mail's case appears now: the router releases the mail
                announced = True
                await producer.send_and_wait(k.cases_topic, _case_value(CASE_TOPICS[AK_C]),
                                             key=AK_C.encode())

        seen = await _collect(bootstrap, sorted(expected), expected, 120, on_record)
    finally:
        await producer.stop()
    stop.set()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(router, 30)
    _table(config, inputs, mails, mail_ids, seen, expected, routed)
    ok = seen == expected
    sys.stdout.write("\nall inputs accounted for\n" if ok else "\nMISMATCH: outputs missing\n")
    return 0 if ok else 1


def _table(config: Config, inputs: list[tuple[str, bytes]], mails: list[KimDemoMail],
           mail_ids: list[str], seen: Counter[str], expected: Counter[str],
           routed: dict[str, list[str]]) -> None:
    width = max(len(t) for t in expected)
    out = sys.stdout
    out.write(f"\n{len(inputs)} input records on {config.topics.inbound}"
              + (f", {len(mails)} mails on {config.kim.inbound}" if mails else "") + "\n\n")
    out.write(f"| {'output topic':<{width}} | records | expected |\n")
    out.write(f"|{'-' * (width + 2)}|---------|----------|\n")
    for topic in sorted(expected):
        out.write(f"| {topic:<{width}} | {seen[topic]:>7} | {expected[topic]:>8} |\n")
    if not mails:
        return
    lw = max(len(m.label) for m in mails)
    out.write(f"\n| {'KIM mail':<{lw}} | topics (in order) |\n|{'-' * (lw + 2)}|---|\n")
    for m, mail_id in zip(mails, mail_ids, strict=True):
        # The reader gets the topics in no fixed order among each other; the router
        # writes the tombstone only after the case topic acknowledged the release.
        path = sorted(routed.get(mail_id, []), key=lambda t: t.endswith("(tombstone)"))
        out.write(f"| {m.label:<{lw}} | {' → '.join(path)} |\n")


def demo_main() -> int:
    """Run the demo on a fresh embedded broker."""
    configure_logging("WARNING")
    base = load_config(None, env={})
    mails = kim_demo_mails()
    config = msgspec.structs.replace(
        base, routes={BGHW: "uv.bghw"}, poll_timeout_ms=100,
        kim=msgspec.structs.replace(base.kim, enabled=bool(mails),
                                    cases={AK_A: CASE_TOPICS[AK_A]}))
    broker = EmbeddedBroker()
    broker.start()
    sys.stdout.write(f"embedded broker at {broker.bootstrap}\n")
    try:
        return run_async(lambda: _demo(config, broker.bootstrap, mails))
    finally:
        broker.stop()
