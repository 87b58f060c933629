"""Hardening against a real broker: nothing stuck, nothing forged, nothing lost.

Each test names the fault it injects for real (a rebalance, a record the producer must
refuse, an oversized input, a route to a topic that cannot exist, a frozen broker) and
fails against the code before the fix (noted per test).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer
from kafka_helpers import (
    RouterFactory,
    TopicReader,
    TopicSet,
    ToSend,
    committed,
    create_topics,
    produce,
)
from traffic import assert_no_health_data

from router.blobstore import DirBlobStore
from router.config import load_config
from router.core.records import OutRecord
from router.kafka import KafkaSink, KafkaSource
from router.kafka.broker import EmbeddedBroker
from sgb301 import examples, ik_check_digit

HOSPITAL = examples.HOSPITAL_IK


def make_ik(first8: str) -> str:
    return first8 + str(ik_check_digit(first8))


IK_A, IK_X, IK_BAD = make_ik("10510011"), make_ik("10560016"), make_ik("10570017")


def interchange(receiver: str, ref: str, case: str, *, pad: int = 0) -> bytes:
    """A production AUFN for ``receiver``; ``pad`` bytes of ``Ä`` in the patient's street
    (each doubles in the JSON envelope)."""
    m = examples.message("8.1.1-AUFN").replace(examples.TEST_IK.encode(), receiver.encode())
    m = m.replace(b"1234567", case.encode())
    if pad:
        m = m.replace(b"NAD+", b"NAD+" + "Ä".encode("latin-1") * pad, 1)
    return examples.wrap(m, sender=HOSPITAL, receiver=receiver, reference=ref,
                         application_reference="EUVK0001")


# ---- finding 1: a revoked partition must not stall the commit ------------------------------
def test_commit_skips_partitions_revoked_while_the_batch_was_in_flight(
        broker: EmbeddedBroker) -> None:
    """Before: aiokafka's commit raised IllegalStateError for the revoked partition, the
    source turned it into TransientError and the loop retried it forever."""
    t = TopicSet.unique("revoke")
    cfg = load_config(None, env={"STELLWERK_GROUP_ID": t.group})

    async def scenario() -> None:
        await create_topics(broker.bootstrap, [t.inbound], 2)
        await produce(broker.bootstrap, t.inbound,
                      [ToSend(b"r%d" % i, partition=i % 2) for i in range(20)])
        a = KafkaSource(cfg, broker.bootstrap, [t.inbound])
        await a.start()
        batch: list = []  # type: ignore[type-arg]
        deadline = time.monotonic() + 60
        while {r.partition for r in batch} != {0, 1}:
            assert time.monotonic() < deadline, "source A never saw both partitions"
            batch += await a.poll(100, 200)
        offsets = {(t.inbound, p): max(r.offset for r in batch if r.partition == p) + 1
                   for p in (0, 1)}
        # A second member joins: one partition moves away while A holds its batch.
        b = AIOKafkaConsumer(t.inbound, bootstrap_servers=broker.bootstrap, group_id=t.group,
                             enable_auto_commit=False, auto_offset_reset="earliest")
        await b.start()
        b_polls = asyncio.create_task(_keep_polling(b))
        try:
            deadline = time.monotonic() + 60
            while len(a._consumer.assignment()) != 1:
                assert time.monotonic() < deadline, "no rebalance happened"
                await a.poll(10, 100)
            kept = next(iter(a._consumer.assignment())).partition
            await asyncio.wait_for(a.commit(offsets), 15)  # returns, does not raise
            done = await committed(broker.bootstrap, t.group, t.inbound)
            assert done[kept] == offsets[(t.inbound, kept)]
        finally:
            b_polls.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await b_polls
            await b.stop()
            await a.stop()

    asyncio.run(scenario())


async def _keep_polling(c: AIOKafkaConsumer) -> None:
    while True:
        await c.getmany(timeout_ms=200)


# ---- finding 2: a record the producer must refuse -------------------------------------------
def test_sink_reports_a_refused_record_and_delivers_its_neighbours_in_order(
        broker: EmbeddedBroker) -> None:
    """Before: MessageSizeTooLargeError became TransientError; the batch was re-sent
    forever and nothing after it was delivered."""
    t = TopicSet.unique("refuse")
    cfg = load_config(None, env={"STELLWERK_LIMITS_MAX_RECORD_BYTES": "20000",
                                 "STELLWERK_LIMITS_INLINE_MAX_BYTES": "10000"})
    records = [OutRecord(t.test, b"k", b"a" * 100, (), "test"),
               OutRecord(t.test, b"k", b"b" * 50_000, (), "test"),
               OutRecord(t.test, b"k", b"c" * 100, (), "test")]

    async def scenario() -> None:
        await create_topics(broker.bootstrap, [t.test], 1)
        sink = KafkaSink(cfg, broker.bootstrap)
        await sink.start()
        try:
            outcome = await asyncio.wait_for(sink.send_all(records), 30)
        finally:
            await sink.stop()
        assert outcome.pending == [] and set(outcome.failed) == {1}
        assert "TooLarge" in outcome.failed[1]
        async with TopicReader(broker.bootstrap, [t.test]) as reader:
            got = await reader.wait_for(lambda recs: len(recs) >= 2, 30, what="2 records")
        assert [r.value[:1] for r in got] == [b"a", b"c"]

    asyncio.run(scenario())


# ---- finding 3: an oversized input --------------------------------------------------------
@pytest.mark.timeout(180)
def test_oversized_input_is_claim_checked_and_the_partition_moves_on(
        broker: EmbeddedBroker, routers: RouterFactory, tmp_path: Path) -> None:
    """A 1.2 MiB interchange (its JSON envelope would be ~2.4 MiB). Before: the producer
    refused the envelope (MessageSizeTooLargeError), the batch was retried forever and
    the interchange behind it on the same key never arrived."""
    t = TopicSet.unique("big")
    carrier = t.carrier("a")
    blobs = tmp_path / "blobs"
    big = interchange(IK_A, "00001", "7000001", pad=1_200_000)
    small = interchange(IK_A, "00002", "7000002")
    env = t.env(routes={IK_A: carrier}, partitions=1,
                STELLWERK_LIMITS_BLOB_DIR=str(blobs))

    async def scenario() -> None:
        await create_topics(broker.bootstrap, [t.inbound], 1)
        await produce(broker.bootstrap, t.inbound,
                      [ToSend(big, key=IK_A.encode()), ToSend(small, key=IK_A.encode())])
        r = routers(env, broker.bootstrap)
        await r.wait_assigned(60)
        async with TopicReader(broker.bootstrap, [carrier, t.rejected, t.dlq]) as reader:
            recs = await reader.wait_for(
                lambda rs: sum(r.topic != t.dlq for r in rs) >= 2, 90,
                what="both messages routed or rejected")
        assert not [r for r in recs if r.topic == t.dlq]
        envs = {r.envelope()["case"]: (r, r.envelope()) for r in recs}
        rec_big, env_big = envs["7000001"]
        assert len(rec_big.value or b"") < 1_000_000
        assert env_big["raw"] == "" and env_big["raw_blob"].startswith("sha256:")
        raw = DirBlobStore(blobs).get(env_big["raw_blob"])
        assert raw.startswith(b"UNH+") and raw in big
        assert envs["7000002"][1]["raw"]  # small: inline, routed after the big one
        assert envs["7000002"][0].topic == carrier

    asyncio.run(scenario())


# ---- finding 8 and 2: routes read to the end; a route to a topic that cannot exist ---------
@pytest.mark.timeout(180)
def test_routes_read_to_their_end_before_routing_and_bad_route_topics_never_stall(
        broker: EmbeddedBroker, routers: RouterFactory, tmp_path: Path) -> None:
    """3,000 route updates, the one for IK_X last; a live route to an illegal topic
    name. Before: the route to the illegal name made every send fail with a retriable
    UnknownTopicOrPartitionError, forever (all partitions stalled)."""
    t = TopicSet.unique("routes")
    carrier_a, carrier_x = t.carrier("a"), t.carrier("x")
    updates = [ToSend(msgspec.json.encode({"topic": t.carrier(f"n{i % 7}")}),
                      key=make_ik(f"1{i:07d}").encode()) for i in range(3000)]
    updates += [ToSend(b'{"topic": "%s"}' % carrier_a.encode(), key=IK_A.encode()),
                ToSend(b'{"topic": "kein gueltiger name"}', key=IK_BAD.encode()),
                ToSend(b'{"topic": "%s"}' % carrier_x.encode(), key=IK_X.encode())]
    inputs = [ToSend(interchange(ik, f"{n:05d}", f"80000{n:02d}"), key=ik.encode())
              for n, ik in enumerate((IK_BAD, IK_X, IK_A, IK_BAD, IK_X), start=1)]

    async def scenario() -> None:
        await create_topics(broker.bootstrap, [t.inbound], 1)
        await create_topics(broker.bootstrap, [t.routes], 1)
        await produce(broker.bootstrap, t.routes, updates)
        await produce(broker.bootstrap, t.inbound, inputs)
        r = routers(t.env(partitions=1), broker.bootstrap)
        await r.wait_assigned(90)
        async with TopicReader(broker.bootstrap,
                               [carrier_a, carrier_x, t.unroutable, t.dlq]) as reader:
            recs = await reader.wait_for(lambda rs: len(rs) >= 5, 120, what="5 messages")
        where = {r.envelope()["case"]: r.topic for r in recs}
        assert where == {"8000001": t.unroutable, "8000002": carrier_x,
                         "8000003": carrier_a, "8000004": t.unroutable,
                         "8000005": carrier_x}
        notes = {r.envelope()["note"] for r in recs if r.topic == t.unroutable}
        assert notes == {"Route auf ungültigen Topic-Namen 'kein gueltiger name'"}
        log = r.log()
        loaded = f"table {t.routes} loaded"
        assert loaded in log and log.index(loaded) < log.index("partitions assigned")

    asyncio.run(scenario())


# ---- finding 7: stop is bounded, also with the broker frozen -------------------------------
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sigterm_with_the_broker_frozen_exits_within_ten_seconds(
        routers: RouterFactory, tmp_path: Path) -> None:
    """SIGSTOP the broker while records flow, then SIGTERM the router. Before: 32 s (the
    producer's 30 s request timeout, then the close). Nothing unacknowledged may be
    committed: after the broker resumes, every committed record has its output."""
    t = TopicSet.unique("frozen")
    own = EmbeddedBroker(log_path=tmp_path / "tansu.log")
    own.start()
    try:
        async def scenario() -> None:
            await create_topics(own.bootstrap, [t.inbound], 1)
            r = routers(t.env(partitions=1, batch_max=5), own.bootstrap)
            await r.wait_assigned(60)
            entl = examples.load()["8.1.1-ENTL"]
            feeder = asyncio.ensure_future(produce(own.bootstrap, t.inbound,  # noqa: RUF006
                                                   [ToSend(entl) for _ in range(200)]))
            await asyncio.sleep(0.3)
            os.kill(own.pid or 0, signal.SIGSTOP)
            try:
                await asyncio.sleep(1.0)
                t0 = time.monotonic()
                r.send_signal(signal.SIGTERM)
                code = await r.wait_exit(15)
                took = time.monotonic() - t0
            finally:
                os.kill(own.pid or 0, signal.SIGCONT)
            print(f"SIGTERM → exit {code} in {took:.1f}s")
            assert code == 0 and took < 10, r.log_tail()
            await asyncio.wait({feeder}, timeout=30)
            done = (await committed(own.bootstrap, t.group, t.inbound)).get(0) or 0
            async with TopicReader(own.bootstrap, [t.test]) as reader:
                outs = await reader.read()
            assert len(outs) >= done, f"committed {done} records but only {len(outs)} outputs"

        asyncio.run(scenario())
    finally:
        own.stop()


def test_the_health_data_scan_finds_a_leak() -> None:
    """The scan the router-log fixtures run must catch what it is for."""
    assert_no_health_data("offset=3 type=AUFN receiver=120591481", "clean")
    with pytest.raises(AssertionError, match="Mustermann"):
        assert_no_health_data("x\nrejected NAD+Mustermann+Max", "leaky.log")
