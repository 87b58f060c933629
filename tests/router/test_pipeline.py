"""The pure core and the loop without a broker (memory source and sink)."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from router.config import load_config
from router.envelope import Envelope
from router.memory import MemorySink, MemorySource
from router.pipeline import ENVELOPE_HEADER, ID_HEADER, Pipeline
from router.records import InRecord
from router.routing import RoutingTable
from router.runner import run_loop
from sgb301 import ik_check_digit
from sgb301.examples import load, message, wrap

CARRIER = "26051098" + str(ik_check_digit("26051098"))  # a valid IK that is not the test IK


def production(case: str = "1234567", receiver: str = CARRIER, vk: str = "10") -> bytes:
    msg = (message("8.1.1-AUFN").replace(b"120591481", receiver.encode())
           .replace(b"1234567", case.encode()).replace(b"FKT+10+", f"FKT+{vk}+".encode()))
    return wrap(msg, sender="260510223", receiver=receiver, application_reference="EUVK0001")


def rec(value: bytes | None, offset: int = 0, headers: tuple[tuple[str, bytes], ...] = ()) -> (
    InRecord
):
    return InRecord("s301.inbound", 0, offset, b"k", value, 1_440_000_000_000, headers)


@pytest.fixture
def pipeline() -> Pipeline:
    return Pipeline(load_config(None, env={"STELLWERK_ROUTES": f'{{"{CARRIER}": "uv.carrier"}}'}))


def kinds(outs: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(o.topic, o.kind) for o in outs]


def test_routed_message_keyed_by_receiver_with_envelope(pipeline: Pipeline) -> None:
    data = production()
    outs = pipeline.process(rec(data))
    assert kinds(outs) == [("uv.carrier", "routed"), ("s301.replies", "reply")]
    env = msgspec.json.decode(outs[0].value, type=Envelope)
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
    env = msgspec.json.decode(outs[0].value, type=Envelope)
    assert env.message == 0 and [e.code for e in env.errors] == ["1SW13"]


def test_fan_out_one_record_per_message(pipeline: Pipeline) -> None:
    two = message("8.1.1-AUFN") + message("8.1.1-ENTL").replace(b"+00001", b"+00002")
    outs = pipeline.process(rec(wrap(two, sender="260510223", receiver="120591481")))
    assert [o.kind for o in outs] == ["test", "test", "reply"]


def test_replayed_unroutable_envelope_is_rerouted_with_same_id() -> None:
    table = RoutingTable()
    p = Pipeline(load_config(None, env={}), table)
    (held, _) = p.process(rec(production()))
    assert held.kind == "unroutable"
    table.apply(CARRIER.encode(), b'{"topic": "uv.new"}')
    (again,) = p.process(rec(held.value, headers=((ENVELOPE_HEADER, b"json"),)))
    assert (again.topic, again.kind) == ("uv.new", "routed")
    assert dict(again.headers)[ID_HEADER] == dict(held.headers)[ID_HEADER]


def test_msgpack_output_format() -> None:
    p = Pipeline(load_config(None, env={"STELLWERK_OUTPUT_FORMAT": "msgpack"}))
    out = p.process(rec(production()))[0]
    assert msgspec.msgpack.decode(out.value, type=Envelope).type == "AUFN"


def test_loop_commits_only_after_acks_and_retries_sends(pipeline: Pipeline) -> None:
    records = [rec(production(case=f"{i:07d}"), offset=i) for i in range(7)]
    source, sink = MemorySource(records), MemorySink(fail_times=2)

    async def go() -> int:
        stop = asyncio.Event()
        task = asyncio.create_task(run_loop(source, sink, pipeline, stop, batch_max=3))
        await source.drained.wait()
        await asyncio.sleep(0.05)
        stop.set()
        return await task

    assert asyncio.run(go()) == 7
    assert source.committed == {("s301.inbound", 0): 7}
    assert sink.calls == 5  # 3 batches + 2 failed attempts
    assert [o.kind for o in sink.records].count("routed") == 7


def test_poison_record_goes_to_dlq(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(_: object) -> None:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(pipeline._validator, "validate", boom)
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
