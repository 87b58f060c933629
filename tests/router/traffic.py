"""Production-like §301 traffic for the integration tests, and the check of its outcome.

:class:`Traffic` builds input records (published DGUV examples re-addressed to real-looking
receiver IKs, with unique interchange references and case numbers, rejected variants, UV
test operation, garbage) and knows where each message must end; :class:`Outcome` groups
what was read from the output topics and asserts the delivery contract: every message in
exactly one terminal topic, duplicates only with identical id and value, replies keyed by
the hospital, order per receiver IK.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from kafka_helpers import Rec, TopicSet, ToSend

from sgb301 import examples, ik_check_digit

__all__ = [
    "DLQ", "HOSPITAL", "HOSPITAL_2", "IK_A", "IK_B", "IK_C", "IK_D", "PRODUCTION_TYPES",
    "REJECTED", "ROUTED", "TEST", "TEST_IK", "UNROUTABLE", "ExpectedMessage", "Input",
    "MsgId", "Outcome", "Traffic", "assert_no_health_data", "health_data", "make_ik",
    "variant",
]

HOSPITAL = examples.HOSPITAL_IK  # 260510223
TEST_IK = examples.TEST_IK  # 120591481


def make_ik(first8: str) -> str:
    """A valid IK from its first eight digits."""
    return first8 + str(ik_check_digit(first8))


HOSPITAL_2 = make_ik("26091234")
IK_A = make_ik("10510001")  # routed
IK_B = make_ik("10520002")  # routed
IK_C = make_ik("10530003")  # routed, same carrier topic as IK_A
IK_D = make_ik("10540004")  # valid, no route → unroutable

ROUTED, REJECTED, UNROUTABLE, TEST, DLQ = "routed", "rejected", "unroutable", "test", "dlq"
PRODUCTION_TYPES = ("8.1.1-AUFN", "8.1.1-ENTL", "8.1.2-AUFN", "8.1.2-ENTL")

MsgId = tuple[str, str]  # (interchange reference, message reference)


# ---- traffic ----------------------------------------------------------------------------
def variant(name: str, *, receiver: str | None = None, sender: str | None = None,
            case: str | None = None, ref: str | None = None,
            processing: str | None = None) -> bytes:
    """A published example message with FKT receiver/sender, INV case number, message
    reference or FKT Verarbeitungskennzeichen replaced (one segment a line)."""
    m = examples.message(name)
    if receiver is not None:
        m = re.sub(rb"^(FKT\+\d+\+\d+\+\d+\+)\d+", lambda x: x[1] + receiver.encode(), m,
                   flags=re.M)
    if sender is not None:
        m = re.sub(rb"^(FKT\+\d+\+\d+\+)\d+", lambda x: x[1] + sender.encode(), m,
                   flags=re.M)
    if case is not None:
        m = re.sub(rb"^(INV\+{6})[^+']*", lambda x: x[1] + case.encode(), m, flags=re.M)
    if ref is not None:
        m = re.sub(rb"^UNH\+[^+']+", b"UNH+" + ref.encode(), m, flags=re.M)
        m = re.sub(rb"^(UNT\+\d+\+)[^']+", lambda x: x[1] + ref.encode(), m, flags=re.M)
    if processing is not None:
        m = re.sub(rb"^FKT\+\d+", b"FKT+" + processing.encode(), m, flags=re.M)
    return m


@dataclass(frozen=True)
class ExpectedMessage:
    """Where one message must end up."""

    id: MsgId
    kind: str
    topic: str
    key: str
    case: str
    raw: bytes  # the message bytes UNH … UNT', unchanged in the envelope


@dataclass
class Input:
    """One input record and what it must produce."""

    value: bytes | None
    key: bytes | None
    reference: str = ""  # interchange reference ("" for garbage)
    sender: str = ""
    messages: list[ExpectedMessage] = field(default_factory=list)
    reply: frozenset[str] = frozenset()  # reply kinds (KOUB, FEHL) expected
    dlq: bool = False
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int | None = None

    def to_send(self) -> ToSend:
        """The record to produce."""
        return ToSend(self.value, self.key, self.partition, self.headers)


class Traffic:
    """Builds inputs with unique interchange references and case numbers, and knows
    the expected outcome of each (from the test's routing table)."""

    def __init__(self, topics: TopicSet, routes: dict[str, str], *, ref_base: int = 10_000,
                 case_base: int = 3_000_000) -> None:
        self.t = topics
        self.routes = routes
        self.inputs: list[Input] = []
        self._refs = itertools.count(ref_base)
        self._cases = itertools.count(case_base)

    def _expect(self, ref: str, mref: str, raw: bytes, *, receiver: str, sender: str,
                rejected: bool, test: bool, case: str) -> ExpectedMessage:
        if rejected:
            return ExpectedMessage((ref, mref), REJECTED, self.t.rejected, sender, case, raw)
        if test:
            return ExpectedMessage((ref, mref), TEST, self.t.test, receiver, case, raw)
        if receiver in self.routes:
            return ExpectedMessage((ref, mref), ROUTED, self.routes[receiver], receiver, case,
                                   raw)
        return ExpectedMessage((ref, mref), UNROUTABLE, self.t.unroutable, receiver, case, raw)

    def production(self, receiver: str, names: Sequence[str] = ("8.1.1-AUFN",), *,
                   reject: Sequence[bool] = (), sender: str = HOSPITAL,
                   partition: int | None = None) -> Input:
        """One ``EUVK0001`` interchange to ``receiver`` with one message per name;
        ``reject[i]`` sets Verarbeitungskennzeichen 99 (34U05) on message ``i``."""
        ref = f"{next(self._refs):05d}"
        parts, expected, kinds = [], [], set()
        for i, name in enumerate(names):
            rejected = i < len(reject) and reject[i]
            mref, case = f"{i + 1:05d}", f"{next(self._cases)}"
            raw = variant(name, receiver=receiver, sender=sender, case=case, ref=mref,
                          processing="99" if rejected else None)
            parts.append(raw)
            expected.append(self._expect(ref, mref, raw, receiver=receiver, sender=sender,
                                         rejected=rejected, test=False, case=case))
            if rejected:
                kinds.add("FEHL")
            elif name.endswith("AUFN"):
                kinds.add("KOUB")
        value = examples.wrap(b"".join(parts), sender=sender, receiver=receiver,
                              reference=ref, application_reference="EUVK0001")
        inp = Input(value, receiver.encode(), ref, sender, expected, frozenset(kinds),
                    partition=partition)
        self.inputs.append(inp)
        return inp

    def seed(self, name: str, *, case: str | None = None) -> Input:
        """A published example in UV test operation, addressed as ``examples.load()`` does
        (KOUB comes back from 120591481), with its own interchange reference. The message
        is unchanged unless ``case`` is given. RECH is rejected as published (1SW18)."""
        ref = f"{next(self._refs):05d}"
        sender, receiver = (TEST_IK, HOSPITAL) if name.endswith("KOUB") else (HOSPITAL, TEST_IK)
        raw = examples.message(name) if case is None else variant(name, case=case)
        inv = re.search(rb"^INV\+{6}([^+']*)", raw, re.M)
        assert inv is not None
        case_no = case or inv[1].decode()
        rejected = name.endswith("RECH")
        msg = self._expect(ref, "00001", raw, receiver=receiver, sender=sender,
                           rejected=rejected, test=True, case=case_no)
        kinds = {"FEHL"} if rejected else {"KOUB"} if name.endswith("AUFN") else set()
        value = examples.wrap(raw, sender=sender, receiver=receiver, reference=ref)
        inp = Input(value, receiver.encode(), ref, sender, [msg], frozenset(kinds))
        self.inputs.append(inp)
        return inp

    def garbage(self, value: bytes | None, key: bytes | None = None, *,
                headers: tuple[tuple[str, bytes], ...] = (),
                partition: int | None = None) -> Input:
        """A record that is no interchange at all (→ DLQ); ``key`` must be unique (it
        identifies the record in the DLQ)."""
        key = key if key is not None else b"garbage-%d" % len(self.inputs)
        inp = Input(value, key, dlq=True, headers=headers, partition=partition)
        self.inputs.append(inp)
        return inp

    def messages(self) -> dict[MsgId, ExpectedMessage]:
        """Every expected message by id."""
        return {m.id: m for i in self.inputs for m in i.messages}

    def carriers(self) -> set[str]:
        """The carrier topics of the routing table."""
        return set(self.routes.values())

    def output_topics(self, extra: Sequence[str] = ()) -> list[str]:
        """Every topic the router may write for this traffic."""
        t = self.t
        return [*sorted(self.carriers()), t.rejected, t.unroutable, t.test, t.dlq, t.replies,
                *extra]


class Outcome:
    """The outputs of a run, grouped by what they stand for."""

    def __init__(self, traffic: Traffic, records: Sequence[Rec], *,
                 foreign: bool = False) -> None:
        """``foreign``: the topics also hold outputs of other traffic; ignore them."""
        self.traffic = traffic
        t = traffic.t
        kinds = t.kinds(traffic.carriers())
        mine = set(traffic.messages())
        refs = {i.reference for i in traffic.inputs if i.reference}
        keys = {i.key for i in traffic.inputs if i.dlq}
        self.records: list[Rec] = []
        self.messages: dict[MsgId, list[Rec]] = defaultdict(list)
        self.dlq: dict[bytes | None, list[Rec]] = defaultdict(list)
        self.replies: dict[str, list[Rec]] = defaultdict(list)
        for r in records:
            if r.topic == t.replies:
                assert r.value is not None
                # The reply has its own Dateinummer; the header names the input's.
                ref = r.headers["stellwerk-answers"].decode("latin-1")
                if foreign and ref not in refs:
                    continue
                self.replies[ref].append(r)
            elif r.topic == t.dlq:
                if foreign and r.key not in keys:
                    continue
                self.dlq[r.key].append(r)
            elif r.topic in kinds:
                env = r.envelope()
                mid = (env["interchange"], env["reference"])
                if foreign and mid not in mine:
                    continue
                self.messages[mid].append(r)
            self.records.append(r)

    def missing(self) -> list[str]:
        """The expected messages, DLQ records and replies that are not there (yet)."""
        out = [f"message {mid} ({m.kind})" for mid, m in self.traffic.messages().items()
               if mid not in self.messages]
        out += [f"DLQ {i.key!r}" for i in self.traffic.inputs if i.dlq and i.key not in self.dlq]
        out += [f"reply to {i.reference}" for i in self.traffic.inputs
                if i.reply and i.reference not in self.replies]
        return out

    def check(self, *, duplicates_allowed: bool) -> Counter[str]:
        """Assert the delivery contract; counts per kind (and of duplicate records)."""
        stats: Counter[str] = Counter()
        for r in self.records:
            assert r.id, f"output without stellwerk-id header: {r.topic}/{r.partition}/{r.offset}"
        expected = self.traffic.messages()
        unexpected = set(self.messages) - set(expected)
        assert not unexpected, f"outputs for messages never sent: {sorted(unexpected)[:5]}"
        for mid, exp in expected.items():
            found = self.messages.get(mid, [])
            assert found, f"message {mid} ({exp.kind}) lost"
            topics = {r.topic for r in found}
            assert topics == {exp.topic}, (
                f"message {mid}: expected only in {exp.topic} ({exp.kind}), found in {topics}")
            if not duplicates_allowed:
                assert len(found) == 1, f"message {mid} delivered {len(found)} times"
            ids = {r.id for r in found}
            values = {r.value for r in found}
            assert len(ids) == 1 and len(values) == 1, (
                f"duplicates of {mid} differ: ids {ids}, {len(values)} distinct values")
            r = found[0]
            env = r.envelope()
            assert r.key == exp.key.encode(), f"message {mid}: key {r.key!r} != {exp.key}"
            assert env["case"] == exp.case
            # The line break after UNT' lies between messages, not in one.
            assert env["raw"].encode("latin-1") == exp.raw.rstrip(b"\r\n"), (
                f"message {mid}: bytes changed")
            assert r.headers.get("stellwerk-verdict") == (
                b"rejected" if exp.kind == REJECTED else b"accepted")
            if exp.kind == ROUTED:
                assert env["route"] == exp.topic
            stats[exp.kind] += 1
            stats["duplicates"] += len(found) - 1
        sent_garbage = {i.key: i for i in self.traffic.inputs if i.dlq}
        assert set(self.dlq) == set(sent_garbage), "DLQ holds other records than the garbage"
        for key, inp in sent_garbage.items():
            found = self.dlq[key]
            if not duplicates_allowed:
                assert len(found) == 1, f"garbage {key!r} delivered {len(found)} times"
            assert len({r.id for r in found}) == 1 and len({r.value for r in found}) == 1
            assert found[0].payload(self.traffic.t.blob_dir) == (inp.value or b""), (
                "DLQ changed the bytes")
            assert found[0].headers.get("stellwerk-error")
            source = found[0].headers.get("stellwerk-source", b"").decode()
            assert source.startswith(self.traffic.t.inbound + "/"), source
            stats[DLQ] += 1
            stats["duplicates"] += len(found) - 1
        by_ref = {i.reference: i for i in self.traffic.inputs if i.reference}
        assert set(self.replies) <= {ref for ref, i in by_ref.items() if i.reply}, (
            "replies for interchanges that need none: "
            f"{sorted(set(self.replies) - {r for r, i in by_ref.items() if i.reply})[:5]}")
        for ref, inp in by_ref.items():
            if not inp.reply:
                continue
            found = self.replies.get(ref, [])
            assert found, f"no reply to interchange {ref} (expected {sorted(inp.reply)})"
            if not duplicates_allowed:
                assert len(found) == 1, f"{len(found)} replies to interchange {ref}"
            assert len({r.id for r in found}) == 1 and len({r.value for r in found}) == 1, (
                f"duplicate replies to {ref} differ")
            kinds = set(found[0].headers.get("stellwerk-type", b"").decode().split())
            assert kinds == inp.reply, f"reply to {ref}: {kinds} != {set(inp.reply)}"
            assert found[0].key == inp.sender.encode(), "reply not keyed by the sender IK"
            for kind in kinds:
                assert f"+{kind}:".encode() in (found[0].value or b"")
            stats["reply"] += 1
            stats["duplicates"] += len(found) - 1
        return stats

    def check_order(self, *, first_occurrence: bool = False) -> int:
        """Per receiver IK, messages appear in input order in the topics keyed by receiver
        (routed, unroutable, test). With ``first_occurrence``, replays are skipped.
        Returns the number of keys checked."""
        t = self.traffic.t
        input_order: dict[tuple[str, str], list[MsgId]] = defaultdict(list)
        for inp in self.traffic.inputs:
            for m in inp.messages:
                if m.kind in (ROUTED, UNROUTABLE, TEST):
                    input_order[(m.topic, m.key)].append(m.id)
        seen: dict[tuple[str, str], list[MsgId]] = defaultdict(list)
        partitions: dict[tuple[str, str], set[int]] = defaultdict(set)
        for r in sorted(self.records, key=lambda r: (r.topic, r.partition, r.offset)):
            if r.topic in (t.replies, t.dlq, t.rejected):
                continue
            env = r.envelope()
            k = (r.topic, (r.key or b"").decode())
            partitions[k].add(r.partition)
            mid = (env["interchange"], env["reference"])
            if first_occurrence and mid in seen[k]:
                continue
            seen[k].append(mid)
        for k, order in input_order.items():
            assert len(partitions[k]) == 1, f"{k} spread over partitions {partitions[k]}"
            assert seen[k] == order, f"order of {k} not preserved"
        return len(input_order)


def health_data() -> set[str]:
    """The personal data in every published example (NAD name, first name, birth date,
    street, town; INV insurance number): what no log line may ever contain."""
    found: set[str] = set()
    for name in examples.MESSAGES:
        text = examples.message(name).decode("latin-1")
        for seg in re.findall(r"^NAD\+([^']*)", text, re.M):
            parts = seg.split("+")
            found.update(p for i, p in enumerate(parts) if i in (0, 1, 3, 4, 6) and p)
        for seg in re.findall(r"^INV\+([^+']*)", text, re.M):
            if seg:
                found.add(seg)
    return found


_HEALTH_DATA = re.compile("|".join(rf"\b{re.escape(s)}\b" for s in sorted(health_data())))


def assert_no_health_data(text: str, where: str) -> None:
    """Fail if ``text`` (a log) holds any of :func:`health_data`, naming the line."""
    for n, line in enumerate(text.splitlines(), start=1):
        m = _HEALTH_DATA.search(line)
        assert m is None, f"{where}:{n}: log line holds health data ({m[0]!r})"
