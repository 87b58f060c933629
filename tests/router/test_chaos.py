"""Faults injected for real while traffic flows: the order and no-loss guarantees hold.

Every connection of routers and test clients goes through a :class:`FaultProxy` (the
broker advertises the proxy), so a test can cut connections, freeze the network or the
broker itself (SIGSTOP), and kill routers (SIGKILL) at random points.

* :func:`test_first_occurrences_stay_in_order_across_forced_send_failures` — sends time
  out in a frozen network and are retried; per receiver IK the first occurrences stay in
  input order (finding 6 of the hardening issue).
* :func:`test_chaos` — two routers, SIGKILLs, a third router joining and leaving, cut
  connections and a frozen broker; ``CHAOS_PROFILE=full`` (``make chaos``) is the
  profile of the issue (10,000 messages, 5 kills, 3 cuts), the default ``short`` one runs
  in ``make test``. Prints a summary table; the figures go in the README.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
import uuid
from dataclasses import dataclass

import pytest
from aiokafka.errors import KafkaError
from faultproxy import ProxiedBroker
from kafka_helpers import (
    RouterFactory,
    RouterProcess,
    TopicReader,
    TopicSet,
    ToSend,
    committed,
    create_topics,
    end_offsets,
    produce,
)
from traffic import (
    IK_A,
    IK_B,
    IK_C,
    IK_D,
    PRODUCTION_TYPES,
    Outcome,
    Traffic,
)

from router.config import load_config
from router.core.records import OutRecord
from router.kafka import KafkaSink


async def trickle(bootstrap: str, topic: str, records: list[ToSend], seconds: float) -> None:
    """Produce ``records`` evenly over about ``seconds``.

    The test's own producer goes through the fault proxy too: a chunk whose send a cut
    or freeze broke is sent again (a part of it may then be there twice, as from any
    producer retry; first occurrences keep their order)."""
    step = max(1, len(records) // max(1, int(seconds * 10)))
    for k in range(0, len(records), step):
        for attempt in range(20):
            try:
                await produce(bootstrap, topic, records[k:k + step])
                break
            except KafkaError:
                if attempt == 19:
                    raise
                await asyncio.sleep(0.5)
        await asyncio.sleep(0.1)


async def drain(bootstrap: str, traffic: Traffic, timeout: float) -> Outcome:
    async with TopicReader(bootstrap, traffic.output_topics()) as reader:
        try:
            await reader.wait_for(lambda recs: not Outcome(traffic, recs).missing(), timeout,
                                  what="every expected output")
        except AssertionError as exc:
            missing = Outcome(traffic, reader.records).missing()
            raise AssertionError(f"{exc}; {len(missing)} missing: {missing[:10]}") from None
        await asyncio.sleep(1.0)
        return Outcome(traffic, await reader.read())


def single_message_traffic(t: TopicSet, routes: dict[str, str], n: int,
                           rng: random.Random) -> Traffic:
    """``n`` interchanges of one message each, mostly routed, some rejected or unroutable."""
    traffic = Traffic(t, routes, ref_base=10_000, case_base=6_000_000)
    for i in range(n):
        roll = rng.random()
        if roll < 0.80:
            traffic.production(rng.choice((IK_A, IK_B, IK_C)), [rng.choice(PRODUCTION_TYPES)])
        elif roll < 0.90:
            traffic.production(IK_D, [rng.choice(PRODUCTION_TYPES)])
        else:
            traffic.production(rng.choice((IK_A, IK_B)), ["8.1.2-AUFN"], reject=[True])
        if i % 500 == 250:
            traffic.garbage(b"garbage record %d" % i)
    return traffic


# ---- finding 6: a retry never reorders a key --------------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_first_occurrences_stay_in_order_across_forced_send_failures(
        proxied_broker: ProxiedBroker, routers: RouterFactory) -> None:
    """Acknowledgements arrive later than the router's request timeout for a while (the
    writes happen, the answers come too late): sends fail, are retried and duplicate;
    then the network freezes and connections are cut twice. Per receiver IK the first
    occurrences must stay in input order, nothing may be lost."""
    pb = proxied_broker
    t = TopicSet.unique("order")
    routes = {IK_A: t.carrier("a"), IK_B: t.carrier("b"), IK_C: t.carrier("a")}
    traffic = single_message_traffic(t, routes, 3000, random.Random(6))
    inputs = [i.to_send() for i in traffic.inputs]
    env = t.env(routes=routes, batch_max=200, STELLWERK_KAFKA_REQUEST_TIMEOUT_MS="2000")

    async def scenario() -> None:
        await create_topics(pb.bootstrap, [t.inbound], 3)
        # A backlog (the faults must hit the router's sends, not the test's producer).
        await produce(pb.bootstrap, t.inbound, inputs)
        r = routers(env, pb.bootstrap)
        await r.wait_assigned(60)
        # A slow network, so that every fault lands while batches are in flight.
        pb.proxy.latency(150)
        await asyncio.sleep(2)
        pb.proxy.blackhole()  # > request timeout: sends expire, some never land
        await asyncio.sleep(3)
        pb.proxy.restore()
        pb.proxy.latency(150)
        await asyncio.sleep(2)
        pb.proxy.latency(2500, "down")  # writes land, acknowledgements come too late
        await asyncio.sleep(4)
        pb.proxy.latency(150)
        for _ in range(2):
            await asyncio.sleep(1.5)
            pb.proxy.cut()
        pb.proxy.restore()
        outcome = await drain(pb.bootstrap, traffic, 120)
        stats = outcome.check(duplicates_allowed=True)
        keys = outcome.check_order(first_occurrence=True)
        print(f"{len(inputs)} inputs → {dict(stats)}; first occurrences in order for {keys} keys")
        assert "not acknowledged" in r.log(), "no send failed: the fault did not bite"
        r.send_signal(signal.SIGTERM)
        assert await r.wait_exit(10) == 0

    asyncio.run(scenario())


def test_a_transient_failure_leaves_exactly_a_suffix_of_the_partition_unsent(
        proxied_broker: ProxiedBroker) -> None:
    """The sink's order property, directly: the network freezes in the middle of a
    partition's chain of batches. What reached the topic is a prefix of the records,
    each once; everything from the failed batch on is reported pending, and nothing
    after the failed batch was sent (so a retry cannot put a later record before an
    earlier one). The failed batch itself may have landed with its acknowledgement lost:
    that is the at-least-once duplicate, same bytes. The old send path handed every
    record to aiokafka at once and reported all of them pending."""
    pb = proxied_broker
    topic = f"s301.suffix.{uuid.uuid4().hex[:8]}"
    cfg = load_config(None, env={"STELLWERK_KAFKA_REQUEST_TIMEOUT_MS": "1500"})
    records = [OutRecord(topic, b"one key", b"%06d:" % i + b"x" * 100_000, (), "test")
               for i in range(60)]

    async def scenario() -> None:
        await create_topics(pb.bootstrap, [topic], 1)
        sink = KafkaSink(cfg, pb.bootstrap)
        await sink.start()
        try:
            pb.proxy.latency(150)  # each batch of the chain takes a while
            sending = asyncio.ensure_future(sink.send_all(records))
            await asyncio.sleep(0.8)
            pb.proxy.blackhole()
            outcome = await asyncio.wait_for(sending, 30)
            pb.proxy.restore()
        finally:
            await sink.stop()
        assert outcome.pending, "the freeze came too late: nothing failed"
        first = outcome.pending[0]
        assert first > 0 and outcome.pending == list(range(first, len(records)))
        async with TopicReader(pb.bootstrap, [topic]) as reader:
            got = [r.value for r in await reader.read()]
        assert got == [r.value for r in records[:len(got)]], "not a prefix, or twice"
        assert first <= len(got) < len(records), (first, len(got))

    asyncio.run(scenario())


# ---- the chaos test ------------------------------------------------------------------------
@dataclass(frozen=True)
class Profile:
    messages: int
    seconds: float  # traffic duration
    kills: int
    cuts: int
    freezes: int


PROFILES = {
    "short": Profile(messages=2500, seconds=30, kills=2, cuts=1, freezes=1),
    "full": Profile(messages=10_000, seconds=75, kills=5, cuts=3, freezes=1),
}
#: No partition with waiting input may go longer than this without a commit. A SIGKILLed
#: router's partitions wait for its session to time out (Tansu: ~18 s, then the rejoin).
STALL_BOUND = 60.0


class StallMonitor:
    """Samples committed offsets and end offsets; the longest time any partition had
    input waiting without its committed offset moving."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        self.bootstrap, self.group, self.topic = bootstrap, group, topic
        self.max_stall = 0.0
        self._since: dict[int, float] = {}
        self._last: dict[int, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):  # the proxy may be cut right now
                ends = await asyncio.wait_for(end_offsets(self.bootstrap, self.topic), 5)
                done = await asyncio.wait_for(committed(self.bootstrap, self.group,
                                                        self.topic), 5)
                now = time.monotonic()
                for p, end in ends.items():
                    c = done.get(p) or 0
                    if c >= end or c != self._last.get(p):
                        self._since[p] = now
                    self._last[p] = c
                    self.max_stall = max(self.max_stall, now - self._since.setdefault(p, now))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_chaos(proxied_broker: ProxiedBroker, routers: RouterFactory) -> None:
    profile_name = os.environ.get("CHAOS_PROFILE", "short")
    profile = PROFILES[profile_name]
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(2**32))
    print(f"chaos profile {profile_name}, seed {seed} (rerun with CHAOS_SEED={seed})")
    rng = random.Random(seed)
    pb = proxied_broker
    t = TopicSet.unique("chaos")
    routes = {IK_A: t.carrier("a"), IK_B: t.carrier("b"), IK_C: t.carrier("a")}
    traffic = single_message_traffic(t, routes, profile.messages, rng)
    inputs = [i.to_send() for i in traffic.inputs]
    env = t.env(routes=routes, partitions=4, batch_max=50,
                STELLWERK_KAFKA_REQUEST_TIMEOUT_MS="5000")
    # The faults, spread over the traffic at random points (one every few seconds).
    events = (["kill"] * profile.kills + ["cut"] * profile.cuts + ["freeze"] * profile.freezes
              + ["join", "leave"])
    rng.shuffle(events)
    events.remove("leave")
    events.insert(rng.randrange(events.index("join") + 1, len(events) + 1), "leave")
    counts = {"kill": 0, "cut": 0, "freeze": 0, "join": 0, "leave": 0}

    every: list[RouterProcess] = []

    def spawn(name: str) -> RouterProcess:
        every.append(routers(env, pb.bootstrap, name=name))
        return every[-1]

    async def scenario() -> None:
        started = time.monotonic()
        await create_topics(pb.bootstrap, [t.inbound], 4)
        live = [spawn("r") for _ in range(2)]
        for r in live:
            await r.wait_assigned(90)
        third: RouterProcess | None = None
        stop_monitor = asyncio.Event()
        monitor = StallMonitor(pb.bootstrap, t.group, t.inbound)
        watching = asyncio.ensure_future(monitor.run(stop_monitor))
        feeder = asyncio.ensure_future(trickle(pb.bootstrap, t.inbound, inputs,
                                               profile.seconds))
        gap = profile.seconds / (len(events) + 1)
        for event in events:
            await asyncio.sleep(rng.uniform(0.5, 1.5) * gap)
            if event == "kill":
                victim = live.pop(rng.randrange(len(live)))
                victim.kill()
                live.append(spawn("r"))
            elif event == "cut":
                pb.proxy.cut()
            elif event == "freeze":
                os.kill(pb.pid, signal.SIGSTOP)
                await asyncio.sleep(rng.uniform(1.0, 3.0))
                os.kill(pb.pid, signal.SIGCONT)
            elif event == "join":
                third = spawn("third")
            elif event == "leave" and third is not None:
                third.send_signal(signal.SIGTERM)
                assert await third.wait_exit(10) == 0, third.log_tail()
            counts[event] += 1
            print(f"t={time.monotonic() - started:5.1f}s {event}")
        await feeder
        outcome = await drain(pb.bootstrap, traffic, 180)
        stop_monitor.set()
        await watching
        stats = outcome.check(duplicates_allowed=True)
        keys = outcome.check_order(first_occurrence=True)
        exits = []
        for r in live:
            r.send_signal(signal.SIGTERM)
            exits.append(await r.wait_exit(10))
        assert exits == [0] * len(live), f"exit codes {exits}"
        done = await committed(pb.bootstrap, t.group, t.inbound)
        ends = await end_offsets(pb.bootstrap, t.inbound)
        assert all((done.get(p) or 0) == e for p, e in ends.items()), (done, ends)
        rebalances = sum(r.log().count("partitions assigned") for r in every)
        elapsed = time.monotonic() - started
        rows = [("messages", profile.messages), ("input records", len(inputs)),
                ("router kills (SIGKILL)", counts["kill"]),
                ("routers joined/left", f"{counts['join']}/{counts['leave']}"),
                ("rebalances (assignments)", rebalances),
                ("connection cuts", counts["cut"]), ("broker freezes", counts["freeze"]),
                ("duplicates", stats["duplicates"]),
                ("keys in order (first occ.)", keys),
                ("max stall [s]", f"{monitor.max_stall:.1f}"),
                ("elapsed [s]", f"{elapsed:.0f}")]
        print(f"\nchaos summary ({profile_name}, seed {seed})")
        for name, value in rows:
            print(f"| {name:<28} | {value!s:>8} |")
        assert monitor.max_stall < STALL_BOUND, f"a partition stalled {monitor.max_stall:.0f}s"

    asyncio.run(scenario())

