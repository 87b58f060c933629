"""KIM mails through the real broker: ``stellwerk run`` as a process, ``kim.*`` topics.

Each test has its own topics (:class:`KimTopics`); mails are built by
:func:`kimfixtures.mails.kim_mail` with a text-layer Muster 86 (the OCR path is covered by
the codec tests: here it would only cost time). The router analyses in its worker pool
(``kim.workers`` 2, the default).

* accepted: a known case → the case topic, keyed by Aktenzeichen, the original mail in
  the envelope; a case whose KVNR differs → quarantine KIM11;
* held and released: an unknown case → ``kim.unmatched``; when the case appears in
  ``mima.cases`` the mail goes to the case topic and a tombstone clears it — also when
  the case appears while the router is down (the held index is rebuilt at start);
* quarantined: a mail without Muster 86 → ``kim.quarantine`` with KIM01 and a German
  notice for the sender on ``kim.notices``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from kafka_helpers import Rec, RouterFactory, TopicReader, TopicSet, ToSend, create_topics, produce
from kimfixtures.mails import KVNR, KVNR_2, SENDER, kim_mail
from kimfixtures.muster86 import muster86_pdf

from router.kafka.broker import EmbeddedBroker

AK_KNOWN = "400000000482041289"
AK_LATE = "400000000482041297"


@dataclass(frozen=True)
class KimTopics:
    """The KIM topics of one test, beside its §301 :class:`TopicSet`."""

    s301: TopicSet
    inbound: str
    quarantine: str
    unmatched: str
    notices: str
    cases: str

    @classmethod
    def unique(cls, tag: str) -> KimTopics:
        ts = TopicSet.unique(tag)
        s = ts.suffix
        return cls(ts, f"kim.inbound.{s}", f"kim.quarantine.{s}", f"kim.unmatched.{s}",
                   f"kim.notices.{s}", f"mima.cases.{s}")

    def case_topic(self, name: str) -> str:
        """A case topic of this test."""
        return f"md.fall.{name}.{self.s301.suffix}"

    def env(self, cases: dict[str, str] | None = None) -> dict[str, str]:
        """Router environment: §301 and KIM topics of this test, static ``cases``."""
        return self.s301.env(
            STELLWERK_KIM_ENABLED="true", STELLWERK_KIM_INBOUND=self.inbound,
            STELLWERK_KIM_QUARANTINE=self.quarantine,
            STELLWERK_KIM_UNMATCHED=self.unmatched, STELLWERK_KIM_NOTICES=self.notices,
            STELLWERK_KIM_CASES_TOPIC=self.cases,
            STELLWERK_KIM_CASES=msgspec.json.encode(cases or {}).decode())

    def all(self, *case_topics: str) -> list[str]:
        """Every output topic (for a reader)."""
        return [self.quarantine, self.unmatched, self.notices, self.s301.dlq, *case_topics]


def _mail(aktenzeichen: str, *, kvnr: str = KVNR, tag: str = "") -> bytes:
    # A unique subject gives each test its own Message-ID and mail id.
    return kim_mail(muster86=muster86_pdf(aktenzeichen, kvnr=kvnr), kvnr=kvnr,
                    subject=f"Angeforderte Unterlagen {tag or uuid.uuid4().hex[:8]}")


def _case(topic: str, kvnr: str | None = None) -> bytes:
    return msgspec.json.encode({"topic": topic, "kvnr": kvnr} if kvnr else {"topic": topic})


async def _ready(router: Any, tables: int = 3) -> None:
    """Wait until the router has read its tables and routes KIM."""
    await router.wait_log(r"table \S+ loaded", 60, count=tables)
    await router.wait_log(r"routing kim: ", 60)


def _env(rec: Rec) -> dict[str, Any]:
    return rec.envelope()


def test_known_case_goes_to_its_topic_with_the_mail(broker: EmbeddedBroker,
                                                    routers: RouterFactory) -> None:
    kt = KimTopics.unique("kim-known")
    case = kt.case_topic("a")
    mail = _mail(AK_KNOWN)

    async def scenario() -> None:
        await create_topics(broker.bootstrap, [kt.inbound], 2)
        await create_topics(broker.bootstrap, [kt.cases], 1)
        router = routers(kt.env({AK_KNOWN: case}), broker.bootstrap)
        await _ready(router)
        await produce(broker.bootstrap, kt.inbound, [ToSend(mail, b"m1")])
        async with TopicReader(broker.bootstrap, kt.all(case)) as reader:
            recs = await reader.wait_for(lambda rs: any(r.topic == case for r in rs), 90,
                                         "the mail on its case topic")
        routed = [r for r in recs if r.topic == case]
        assert len(routed) == 1
        assert [r for r in recs if r.topic != case] == []
        rec = routed[0]
        assert rec.key == AK_KNOWN.encode()
        env = _env(rec)
        assert env["kind"] == "kim"
        assert env["verdict"] == "accepted"
        assert env["aktenzeichen"] == AK_KNOWN
        assert env["aktenzeichen_source"] == "pdf-text"
        assert env["md"] == "MD Sachsen"
        assert env["route"] == case
        roles = {d["filename"]: d["role"] for d in env["documents"]}
        assert roles["Muster86.pdf"] == "muster86"
        assert roles["eArztbrief.xml"] == "cda"
        assert rec.headers["stellwerk-id"].decode() == env["id"]
        assert env["id"].startswith("kim:sha256:")
        # the original mail travels with the envelope, byte for byte
        assert msgspec.json.Decoder(_RawOnly).decode(rec.value or b"").raw == mail

    asyncio.run(scenario())


class _RawOnly(msgspec.Struct):
    raw: bytes


def test_case_with_other_kvnr_is_quarantined_then_replayed(broker: EmbeddedBroker,
                                             routers: RouterFactory) -> None:
    kt = KimTopics.unique("kim-kvnr")
    case = kt.case_topic("b")

    async def scenario() -> None:
        await create_topics(broker.bootstrap, [kt.inbound], 1)
        await create_topics(broker.bootstrap, [kt.cases], 1)
        await produce(broker.bootstrap, kt.cases, [ToSend(_case(case, KVNR_2),
                                                          AK_KNOWN.encode())])
        router = routers(kt.env(), broker.bootstrap)
        await _ready(router)
        await router.wait_log(rf"table {kt.cases} loaded: 1 entries", 10)
        await produce(broker.bootstrap, kt.inbound, [ToSend(_mail(AK_KNOWN), b"m")])
        async with TopicReader(broker.bootstrap, kt.all(case)) as reader:
            recs = await reader.wait_for(lambda rs: any(r.topic == kt.notices for r in rs),
                                         90, "the notice")
        assert [r.topic for r in recs if r.topic == case] == []
        (q,) = [r for r in recs if r.topic == kt.quarantine]
        assert "KIM11" in [x["code"] for x in _env(q)["reasons"]]
        (n,) = [r for r in recs if r.topic == kt.notices]
        assert n.key == SENDER.encode()
        assert "Versichertennummer" in msgspec.json.decode(n.value or b"")["text"]

        # The operator corrects the case and replays the quarantine: the original mail is
        # analysed again and now reaches its case, under the same mail id.
        await produce(broker.bootstrap, kt.cases, [ToSend(_case(case, KVNR),
                                                          AK_KNOWN.encode())])
        await router.wait_log(rf"table {kt.cases} updated", 30)
        replay = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "router.cli", "replay", "--bootstrap", broker.bootstrap,
            "--from", kt.quarantine, env={**os.environ, **kt.env()},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(replay.communicate(), 60)
        assert replay.returncode == 0, err.decode()
        assert out.decode() == f"replayed 1 record(s) from {kt.quarantine} to {kt.inbound}\n"
        async with TopicReader(broker.bootstrap, [kt.inbound, case]) as reader:
            recs = await reader.wait_for(lambda rs: any(r.topic == case for r in rs), 90,
                                         "the replayed mail on its case topic")
        again = [r for r in recs if r.topic == kt.inbound]
        assert len(again) == 2  # the original and the replayed mail: the same bytes
        assert again[0].value == again[1].value
        assert again[1].headers["stellwerk-replayed-from"] == (
            f"{kt.quarantine}/{q.partition}/{q.offset}".encode())
        (routed,) = [r for r in recs if r.topic == case]
        assert _env(routed)["id"] == _env(q)["id"]
        assert _env(routed)["verdict"] == "accepted"

    asyncio.run(scenario())


def test_quarantined_mail_gets_a_notice_for_the_sender(broker: EmbeddedBroker,
                                                       routers: RouterFactory) -> None:
    kt = KimTopics.unique("kim-quar")
    mail = kim_mail(muster86=None, subject=f"ohne Bogen {uuid.uuid4().hex[:6]}")

    async def scenario() -> None:
        await create_topics(broker.bootstrap, [kt.inbound], 1)
        router = routers(kt.env(), broker.bootstrap)
        await _ready(router)
        await produce(broker.bootstrap, kt.inbound, [ToSend(mail, b"m")])
        async with TopicReader(broker.bootstrap, kt.all()) as reader:
            recs = await reader.wait_for(
                lambda rs: {r.topic for r in rs} >= {kt.quarantine, kt.notices}, 90,
                "quarantine and notice")
        (q,) = [r for r in recs if r.topic == kt.quarantine]
        env = _env(q)
        assert env["verdict"] == "quarantined"
        assert [x["code"] for x in env["reasons"] if x["severity"] == "error"] == ["KIM01"]
        assert q.key == env["id"].removeprefix("kim:").encode()
        (n,) = [r for r in recs if r.topic == kt.notices]
        notice = msgspec.json.decode(n.value or b"")
        assert n.key == SENDER.encode()
        assert notice["codes"] == ["KIM01"]
        assert notice["mail_id"] == q.key.decode()
        assert "Muster 86" in notice["text"]
        # the notice is for the sender: no insured person's data in it
        assert KVNR not in notice["text"]
        assert [r for r in recs if r.topic == kt.unmatched] == []

    asyncio.run(scenario())


def _released(kt: KimTopics, case: str) -> Any:
    def cond(rs: list[Rec]) -> bool:
        tomb = any(r.topic == kt.unmatched and r.value is None for r in rs)
        return tomb and any(r.topic == case for r in rs)
    return cond


def _check_release(kt: KimTopics, case: str, recs: list[Rec], mail: bytes) -> None:
    (held,) = [r for r in recs if r.topic == kt.unmatched and r.value is not None]
    (tomb,) = [r for r in recs if r.topic == kt.unmatched and r.value is None]
    (routed,) = [r for r in recs if r.topic == case]
    assert held.key == tomb.key
    assert _env(held)["verdict"] == "unmatched"
    assert _env(held)["aktenzeichen"] == AK_LATE
    env = _env(routed)
    assert routed.key == AK_LATE.encode()
    assert env["verdict"] == "accepted"
    assert env["id"] == _env(held)["id"]
    assert routed.headers["stellwerk-verdict"] == b"accepted"
    assert msgspec.json.Decoder(_RawOnly).decode(routed.value or b"").raw == mail


def test_unmatched_mail_is_held_then_released(broker: EmbeddedBroker,
                                              routers: RouterFactory) -> None:
    kt = KimTopics.unique("kim-hold")
    case = kt.case_topic("late")
    mail = _mail(AK_LATE)

    async def scenario() -> None:
        await create_topics(broker.bootstrap, [kt.inbound], 1)
        await create_topics(broker.bootstrap, [kt.cases, kt.unmatched], 1)
        router = routers(kt.env(), broker.bootstrap)
        await _ready(router)
        await produce(broker.bootstrap, kt.inbound, [ToSend(mail, b"m")])
        async with TopicReader(broker.bootstrap, kt.all(case)) as reader:
            await reader.wait_for(lambda rs: any(r.topic == kt.unmatched for r in rs), 90,
                                  "the held mail")
            await asyncio.sleep(1.0)
            assert reader.by_topic(case) == []
            await produce(broker.bootstrap, kt.cases, [ToSend(_case(case), AK_LATE.encode())])
            recs = await reader.wait_for(_released(kt, case), 60, "release and tombstone")
        _check_release(kt, case, recs, mail)

    asyncio.run(scenario())


@pytest.mark.slow
def test_held_mail_is_released_after_a_router_restart(broker: EmbeddedBroker,
                                                      routers: RouterFactory) -> None:
    kt = KimTopics.unique("kim-restart")
    case = kt.case_topic("later")
    mail = _mail(AK_LATE)

    async def scenario() -> None:
        await create_topics(broker.bootstrap, [kt.inbound], 1)
        await create_topics(broker.bootstrap, [kt.cases, kt.unmatched], 1)
        first = routers(kt.env(), broker.bootstrap, "first")
        await _ready(first)
        await produce(broker.bootstrap, kt.inbound, [ToSend(mail, b"m")])
        async with TopicReader(broker.bootstrap, kt.all(case)) as reader:
            await reader.wait_for(lambda rs: any(r.topic == kt.unmatched for r in rs), 90,
                                  "the held mail")
            first.send_signal(signal.SIGTERM)
            assert await first.wait_exit(30) == 0
            # the case appears while no router runs: only the rebuilt index can release
            await produce(broker.bootstrap, kt.cases, [ToSend(_case(case), AK_LATE.encode())])
            second = routers(kt.env(), broker.bootstrap, "second")
            await _ready(second)
            await second.wait_log(rf"table {kt.unmatched} loaded: 1 entries", 10)
            recs = await reader.wait_for(_released(kt, case), 60, "release and tombstone")
        _check_release(kt, case, recs, mail)
        # the mail itself was consumed once: the second router did not analyse it again
        assert "released 1 held mail" in second.log()

    asyncio.run(scenario())
