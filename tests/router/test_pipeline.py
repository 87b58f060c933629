"""The pure core and the loop without a broker (memory source and sink)."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from router.app import _supervise
from router.blobstore import MemoryBlobStore
from router.config import load_config
from router.core.envelope import S301Envelope, content_id
from router.core.headers import BLOB_HEADER, ENVELOPE_HEADER, ID_HEADER
from router.core.pipeline import Pipeline
from router.core.records import InRecord, OutRecord
from router.core.tables import RoutingTable
from router.families import build_pipeline
from router.loop import run_loop
from router.memory import MemorySink, MemorySource
from sgb301 import ik_check_digit
from sgb301.examples import load, message, wrap

CARRIER = "26051098" + str(ik_check_digit("26051098"))  # a valid IK that is not the test IK


def production(case: str = "1234567", receiver: str = CARRIER, vk: str = "10") -> bytes:
    msg = (message("8.1.1-AUFN").replace(b"120591481", receiver.encode())
           .replace(b"1234567", case.encode()).replace(b"FKT+10+", f"FKT+{vk}+".encode()))
    return wrap(msg, sender="260510223", receiver=receiver, application_reference="EUVK0001")


def rec(value: bytes | None, offset: int = 0, headers: tuple[tuple[str, bytes], ...] = (),
        topic: str = "s301.inbound") -> InRecord:
    return InRecord(topic, 0, offset, b"k", value, 1_440_000_000_000, headers)


@pytest.fixture
def pipeline() -> Pipeline:
    config = load_config(None, env={"STELLWERK_ROUTES": f'{{"{CARRIER}": "uv.carrier"}}'})
    return build_pipeline(config, blobs=MemoryBlobStore())


def kinds(outs: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(o.topic, o.kind) for o in outs]


def test_routed_message_keyed_by_receiver_with_envelope(pipeline: Pipeline) -> None:
    data = production()
    outs = pipeline.process(rec(data))
    assert kinds(outs) == [("uv.carrier", "routed"), ("s301.replies", "reply")]
    env = msgspec.json.decode(outs[0].value, type=S301Envelope)
    assert outs[0].key == CARRIER.encode()
    assert (env.type, env.receiver_ik, env.case, env.verdict, env.route) == (
        "AUFN", CARRIER, "1234567", "accepted", "uv.carrier")
    assert env.raw.encode("latin-1") in data  # raw message unchanged
    assert dict(outs[0].headers)[ID_HEADER] == env.id.encode()
    assert outs[1].key == b"260510223" and outs[1].value.startswith(b"UNB+UNOC:3+")


def test_ids_are_deterministic_across_replays_and_offsets(pipeline: Pipeline) -> None:
    a = pipeline.process(rec(production(), offset=1))
    b = pipeline.process(rec(production(), offset=99))
    assert [dict(o.headers)[ID_HEADER] for o in a] == [dict(o.headers)[ID_HEADER] for o in b]
    c = pipeline.process(rec(production(case="7654321")))
    assert dict(a[0].headers)[ID_HEADER] != dict(c[0].headers)[ID_HEADER]
    # the router builds message ids piecewise: they are content_id's, exactly
    env = msgspec.json.decode(a[0].value, type=S301Envelope)
    assert env.id == content_id("s301", "260510223", env.interchange, env.reference,
                                content=env.raw.encode("latin-1"))


def test_each_terminal_kind(pipeline: Pipeline) -> None:
    assert kinds(pipeline.process(rec(production(vk="99"))))[0] == ("s301.rejected", "rejected")
    other = "26051022" + str(ik_check_digit("26051022"))
    assert kinds(pipeline.process(rec(production(receiver=other))))[0] == (
        "s301.unroutable", "unroutable")
    assert kinds(pipeline.process(rec(load()["8.1.1-ENTL"]))) == [("s301.test", "test")]
    dlq = pipeline.process(rec(b"not an interchange"))
    assert kinds(dlq) == [("stellwerk.dlq", "dlq")]
    assert dlq[0].value == b"not an interchange" and dlq[0].key == b"k"
    assert dict(dlq[0].headers)["stellwerk-error"].startswith(b"10066 ")
    assert kinds(pipeline.process(rec(None))) == [("stellwerk.dlq", "dlq")]


def test_file_without_messages_is_one_rejected_envelope(pipeline: Pipeline) -> None:
    data = b"UNB+UNOC:3+260510223+120591481+151127:1200+00001++EUVK0001'UNZ+0+00001'"
    outs = pipeline.process(rec(data))
    assert kinds(outs)[0] == ("s301.rejected", "rejected")
    env = msgspec.json.decode(outs[0].value, type=S301Envelope)
    assert env.message == 0 and [e.code for e in env.errors] == ["1SW13"]


def test_fan_out_one_record_per_message(pipeline: Pipeline) -> None:
    two = message("8.1.1-AUFN") + message("8.1.1-ENTL").replace(b"+00001", b"+00002")
    outs = pipeline.process(rec(wrap(two, sender="260510223", receiver="120591481")))
    assert [o.kind for o in outs] == ["test", "test", "reply"]


def test_replayed_unroutable_envelope_is_rerouted_with_same_id() -> None:
    table = RoutingTable()
    p = build_pipeline(load_config(None, env={}), table, blobs=MemoryBlobStore())
    (held, _) = p.process(rec(production()))
    assert held.kind == "unroutable"
    table.apply(CARRIER.encode(), b'{"topic": "uv.new"}')
    (again,) = p.process(rec(held.value, headers=((ENVELOPE_HEADER, b"json"),),
                             topic="stellwerk.replay"))
    assert (again.topic, again.kind) == ("uv.new", "routed")
    assert dict(again.headers)[ID_HEADER] == dict(held.headers)[ID_HEADER]


def test_forged_envelope_on_inbound_is_not_routed(pipeline: Pipeline) -> None:
    """Only the replay topic re-routes envelopes: a self-made "accepted" envelope on
    s301.inbound is validated as an interchange (it is none) and held in the DLQ."""
    (genuine, _) = pipeline.process(rec(production()))
    env = msgspec.json.decode(genuine.value, type=S301Envelope)
    forged = msgspec.json.encode(msgspec.structs.replace(env, id="s301:forged"))
    outs = pipeline.process(rec(forged, headers=((ENVELOPE_HEADER, b"json"),)))
    assert kinds(outs) == [("stellwerk.dlq", "dlq")]
    assert outs[0].value == forged  # held unchanged for a person to look at
    # The same record from the replay topic is routed (that topic is ACL-protected).
    again = pipeline.process(rec(forged, headers=((ENVELOPE_HEADER, b"json"),),
                                 topic="stellwerk.replay"))
    assert kinds(again) == [("uv.carrier", "routed")]


def test_live_route_to_an_invalid_topic_is_unroutable_with_the_reason() -> None:
    table = RoutingTable()
    p = build_pipeline(load_config(None, env={}), table, blobs=MemoryBlobStore())
    table.apply(CARRIER.encode(), b'{"topic": "uv carrier!"}')
    (out, _) = p.process(rec(production()))
    assert (out.topic, out.kind) == ("s301.unroutable", "unroutable")
    assert "uv carrier!" in msgspec.json.decode(out.value, type=S301Envelope).note


def big_message(size: int) -> bytes:
    """An AUFN whose free text makes it about ``size`` bytes, with bytes >= 0x80 (they
    double in the JSON envelope)."""
    filler = ("Ä" * (size // 2)).encode("latin-1")
    return production().replace(b"NAD+", b"NAD+" + filler[: size // 2], 1)


def test_oversized_envelope_carries_a_claim_check() -> None:
    blobs = MemoryBlobStore()
    cfg = load_config(None, env={"STELLWERK_ROUTES": f'{{"{CARRIER}": "uv.carrier"}}',
                                 "STELLWERK_LIMITS_INLINE_MAX_BYTES": "20000"})
    p = build_pipeline(cfg, blobs=blobs)
    data = big_message(30_000)
    outs = p.process(rec(data))
    assert all(len(o.value) <= 20_000 for o in outs)
    env = msgspec.json.decode(outs[0].value, type=S301Envelope)
    assert env.raw == "" and env.raw_blob.startswith("sha256:")
    raw = blobs.get(env.raw_blob)
    assert raw in data and raw.startswith(b"UNH+")  # the message bytes, unchanged
    # Small messages stay inline.
    small = msgspec.json.decode(p.process(rec(production()))[0].value, type=S301Envelope)
    assert small.raw and not small.raw_blob


def test_oversized_dlq_record_carries_a_claim_check() -> None:
    blobs = MemoryBlobStore()
    p = build_pipeline(load_config(None, env={"STELLWERK_LIMITS_INLINE_MAX_BYTES": "2000"}),
                 blobs=blobs)
    junk = b"no interchange " * 1000
    (out,) = p.process(rec(junk))
    assert out.kind == "dlq" and out.value == b""
    assert blobs.get(dict(out.headers)[BLOB_HEADER].decode()) == junk


def test_msgpack_output_format() -> None:
    p = build_pipeline(load_config(None, env={"STELLWERK_OUTPUT_FORMAT": "msgpack"}))
    out = p.process(rec(production()))[0]
    assert msgspec.msgpack.decode(out.value, type=S301Envelope).type == "AUFN"


def run(source: MemorySource, sink: MemorySink, pipeline: Pipeline, batch_max: int = 3) -> int:
    async def go() -> int:
        stop = asyncio.Event()
        task = asyncio.create_task(run_loop(source, sink, pipeline, stop, batch_max=batch_max))
        await source.drained.wait()
        await asyncio.sleep(0.05)
        stop.set()
        return await task

    return asyncio.run(go())


def test_loop_commits_only_after_acks_and_retries_sends(pipeline: Pipeline) -> None:
    records = [rec(production(case=f"{i:07d}"), offset=i) for i in range(7)]
    journal: list[tuple[str, object]] = []
    source = MemorySource(records, journal)
    sink = MemorySink(fail_times=2, journal=journal)
    assert run(source, sink, pipeline) == 7
    assert source.committed == {("s301.inbound", 0): 7}
    assert sink.calls == 5  # 3 batches + 2 failed attempts
    assert [o.kind for o in sink.records].count("routed") == 7
    # The order itself: every commit follows the acknowledged send of its own batch,
    # and nothing is committed while a send of that batch is failing.
    calls = [c for c, _ in journal]
    assert calls == ["poll", "send-failed", "send-failed", "send", "commit",
                     "poll", "send", "commit", "poll", "send", "commit"]
    commits = [d for c, d in journal if c == "commit"]
    assert commits == [{("s301.inbound", 0): 3}, {("s301.inbound", 0): 6},
                       {("s301.inbound", 0): 7}]


def test_refused_output_sends_its_input_to_the_dlq_and_the_partition_moves_on(
        pipeline: Pipeline) -> None:
    """A non-retriable refusal (e.g. too large for the broker) must not be retried
    forever: the input goes to the DLQ, the batch is committed, later records flow."""
    bad = production(case="6666666")
    records = [rec(production(case="1111111"), 0), rec(bad, 1), rec(production(case="2222222"), 2)]
    source = MemorySource(records)

    def refuse(o: OutRecord) -> str | None:
        return "RecordTooLargeError" if o.kind == "routed" and b"6666666" in o.value else None

    sink = MemorySink(refuse=refuse)
    assert run(source, sink, pipeline) == 3
    assert source.committed == {("s301.inbound", 0): 3}
    dlq = [o for o in sink.records if o.kind == "dlq"]
    assert len(dlq) == 1 and dlq[0].value == bad
    assert b"RecordTooLargeError" in dict(dlq[0].headers)["stellwerk-error"]
    routed = [msgspec.json.decode(o.value, type=S301Envelope).case for o in sink.records
              if o.kind == "routed"]
    assert routed == ["1111111", "2222222"]


def test_poison_record_goes_to_dlq(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    family = pipeline.families[0]

    class Broken:
        """The §301 family with a bug in its analysis (the compiled family's methods
        cannot be patched, so it is wrapped)."""

        def __getattr__(self, name: str) -> object:
            return getattr(family, name)

        def analyse(self, *_: object) -> None:
            raise RuntimeError("unexpected")

    monkeypatch.setitem(pipeline._by_topic, family.inputs[0], Broken())  # type: ignore[arg-type]
    source, sink = MemorySource([rec(production())]), MemorySink()

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_loop(source, sink, pipeline, stop))
        await source.drained.wait()
        stop.set()
        await task

    asyncio.run(go())
    assert [o.kind for o in sink.records] == ["dlq"]
    assert b"RuntimeError" in dict(sink.records[0].headers)["stellwerk-error"]


def test_a_dying_feed_is_restarted_not_left_frozen(caplog: pytest.LogCaptureFixture) -> None:
    """The routes feed failing must not leave the router routing on a table that no
    longer updates: the supervisor restarts it (with backoff) until stop."""
    starts: list[float] = []

    async def go() -> None:
        stop = asyncio.Event()

        async def feed() -> None:
            starts.append(asyncio.get_running_loop().time())
            if len(starts) < 3:
                raise ConnectionError("routes consumer lost")
            stop.set()

        await asyncio.wait_for(_supervise("routes feed", feed, stop), 10)

    asyncio.run(go())
    assert len(starts) == 3
    assert starts[2] - starts[1] >= starts[1] - starts[0] >= 0.9  # backoff grows
    assert caplog.text.count("routes feed failed (ConnectionError); restarting") == 2
