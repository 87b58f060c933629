"""Group membership on the embedded broker: a router that stops never stalls the group.

Tansu keeps a group's recorded leader when that leader sends LeaveGroup while the group
is forming (a new member is joining): from then on every JoinGroup answers with a
leader that is gone, nobody assigns, and the group never forms again (found by the
chaos test; reproduced here on purpose). With ``kafka.leave_group = "auto"`` a router
on a broker without the idempotent producer stops without LeaveGroup; its partitions
move after the session timeout instead.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
from kafka_helpers import RouterFactory, TopicSet, create_topics

from router.kafka.broker import EmbeddedBroker


def _leader_leaves_while_a_member_joins(broker: EmbeddedBroker, routers: RouterFactory,
                                        leave_group: str) -> tuple[set[str], set[str], float]:
    """Routers A and C form a group (A leads); B starts joining; A stops on SIGTERM.
    Returns what B and C own when they share every partition (or after 40 s), and how
    long after A's exit that was."""
    t = TopicSet.unique("leave")
    # Heartbeats every 3 s: A learns of B's join only with its next heartbeat, so A's
    # stop, 0.2 s after B's join, most likely lands while A is not rejoining yet (an A
    # that is rejoining finishes the join before it leaves, and the bug needs a forming
    # group). The broker holds B's JoinGroup for half the session.
    env = t.env(partitions=4, STELLWERK_KAFKA_LEAVE_GROUP=leave_group,
                STELLWERK_KAFKA_SESSION_TIMEOUT_MS="9000",
                STELLWERK_KAFKA_HEARTBEAT_INTERVAL_MS="3000")
    everything = {f"{topic}/{p}" for topic in (t.inbound, t.replay) for p in range(4)}

    def shared(x: set[str], y: set[str]) -> bool:
        return bool(x and y and not x & y and x | y == everything)

    async def scenario() -> tuple[set[str], set[str], float]:
        await create_topics(broker.bootstrap, [t.inbound], 4)
        a = routers(env, broker.bootstrap, name="leader")
        await a.wait_assigned(60)
        c = routers(env, broker.bootstrap, name="member")
        # generation 1 (aiokafka sends LeaveGroup only from generation 1 on), led by A
        await a.wait_log(r"Elected group leader", 60, count=2)
        deadline = time.monotonic() + 30
        while not shared(a.assignment(), c.assignment()):
            assert time.monotonic() < deadline, (a.assignment(), c.assignment())
            await asyncio.sleep(0.1)
        b = routers(env, broker.bootstrap, name="joiner")
        await b.wait_log(r"\(Re-\)joining group", 60, interval=0.02)
        await asyncio.sleep(0.2)  # the broker holds B's JoinGroup: the group is forming
        a.send_signal(signal.SIGTERM)
        assert await a.wait_exit(10) == 0, a.log_tail()
        left = time.monotonic()
        while time.monotonic() - left < 40 and not shared(b.assignment(), c.assignment()):
            await asyncio.sleep(0.2)
        return b.assignment(), c.assignment(), time.monotonic() - left

    return asyncio.run(scenario())


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_leader_stopping_while_a_router_joins_never_stalls_the_group(
        broker: EmbeddedBroker, routers: RouterFactory) -> None:
    b, c, took = _leader_leaves_while_a_member_joins(broker, routers, "auto")
    print(f"B {sorted(b)}, C {sorted(c)}: {took:.1f}s after the leader stopped")
    assert b and c and not b & c and len(b | c) == 8, \
        f"the group did not form again within 40 s: B {sorted(b)}, C {sorted(c)}"
