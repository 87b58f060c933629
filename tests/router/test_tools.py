"""``stellwerk send / tail / replay / ingest`` against the real embedded broker.

Every test uses its own topic names (uuid suffix), so tests share the session broker.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiokafka import AIOKafkaProducer

from router.cli import main, tools
from router.config import load_config
from router.core.envelope import S301Envelope, SourceRef, codec_for
from router.core.headers import ENVELOPE_HEADER, ID_HEADER
from router.core.records import InRecord
from router.families import build_pipeline
from router.kafka.broker import EmbeddedBroker, free_port

Header = tuple[str, bytes]


def topic(prefix: str = "t") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


def produce(bootstrap: str, name: str,
            records: list[tuple[bytes | None, bytes, list[Header]]]) -> None:
    """Produce (key, value, headers) records in one batch, await every ack."""

    async def run() -> None:
        p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
        await p.start()
        try:
            futs = [await p.send(name, v, key=k, headers=h) for k, v, h in records]
            await asyncio.gather(*futs)
        finally:
            await p.stop()

    asyncio.run(run())


def tail_json(capsys: pytest.CaptureFixture[str], bootstrap: str, name: str,
              *extra: str, timeout: str = "1") -> list[dict[str, Any]]:
    """Every record of ``name`` (from the beginning) as the ``tail --json`` objects."""
    capsys.readouterr()
    rc = main(["tail", "--bootstrap", bootstrap, name, "--from-beginning", "--timeout",
               timeout, "--json", *extra])
    assert rc == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def envelope(receiver_ik: str = "120591481", ident: str = "") -> S301Envelope:
    raw = "UNH+1+AUFN:14:000:00'FKT+10+01+260326822+109876543'UNT+3+1'"
    return S301Envelope(id=ident or f"s301:260326822:{uuid.uuid4().hex[:6]}:1:0011223344556677",
                    type="AUFN", version="14", reference="1", sender_ik="260326822",
                    receiver_ik=receiver_ik, case="4711", verdict="accepted", errors=[],
                    source=SourceRef("s301.inbound", 0, 7), message=1, interchange="00042",
                    test=False, raw=raw, route="")


def input_id(data: bytes) -> str:
    """The ``stellwerk-input-id`` of ingested bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def interchange(receiver: str = "109876543", sender: str = "260326822") -> bytes:
    """A small §301 interchange (UNA, UNB … UNZ) for the ingest edge."""
    return (f"UNA:+,? 'UNB+UNOC:3+{sender}+{receiver}+260101:1200+00042++TUVK0001'"
            "UNH+1+AUFN:14:000:00'FKT+10+01+260326822+109876543'UNT+3+1'UNZ+1+00042'"
            ).encode("latin-1")


def cli(*args: str, env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "router.cli", *args], capture_output=True,
                          text=True, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})})


# ---- send + tail ----------------------------------------------------------------------
def test_send_tail_round_trip(broker: EmbeddedBroker, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    name = topic("send")
    payloads = [b"UNA:+.? 'UNB+UNOC:3+260326822+120591481'", b"\x00\xe4\xf6\xfc\xff bin",
                b""]
    paths = []
    for i, data in enumerate(payloads):
        (p := tmp_path / f"f{i}.edi").write_bytes(data)
        paths.append(str(p))
    rc = main(["send", "--bootstrap", broker.bootstrap, name, *paths, "--key", "260326822"])
    assert rc == 0
    assert capsys.readouterr().out == f"sent 3 record(s) to {name}, 3 acknowledged\n"

    start = time.monotonic()
    got = tail_json(capsys, broker.bootstrap, name, timeout="1")
    assert time.monotonic() - start < 8  # --timeout ends it
    assert len(got) == 3
    by_value = {r["value"].encode("latin-1"): r for r in got}
    assert set(by_value) == set(payloads)  # bytes unchanged
    for r in got:
        assert set(r) == {"topic", "partition", "offset", "key", "headers", "value"}
        assert r["topic"] == name and r["key"] == "260326822" and r["headers"] == {}
        assert isinstance(r["partition"], int) and isinstance(r["offset"], int)
    # same key → one partition, offsets in send order
    assert len({r["partition"] for r in got}) == 1
    assert [r["value"].encode("latin-1") for r in sorted(got, key=lambda r: r["offset"])] \
        == payloads

    capsys.readouterr()
    assert main(["tail", "--bootstrap", broker.bootstrap, name, "--from-beginning",
                 "--max", "2", "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_send_reports_unreadable_files_and_sends_the_rest(
        broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = topic("send")
    (good := tmp_path / "good.edi").write_bytes(b"payload")
    (adir := tmp_path / "adir").mkdir()
    missing = tmp_path / "missing.edi"
    rc = main(["send", "--bootstrap", broker.bootstrap, name, str(missing), str(good),
               str(adir)])
    assert rc == 1
    cap = capsys.readouterr()
    assert cap.out == f"sent 1 record(s) to {name}, 1 acknowledged\n"
    # by position and name digest, never the path
    assert f"PATH 1 (name {tools.name_digest('missing.edi')}): cannot read" in cap.err
    assert f"PATH 3 (name {tools.name_digest('adir')}): cannot read" in cap.err
    assert "PATH 2" not in cap.err and str(tmp_path) not in cap.err
    got = tail_json(capsys, broker.bootstrap, name)
    assert [(r["key"], r["value"]) for r in got] == [(None, "payload")]


def test_failures_never_print_names_or_exception_text(
        broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception's message may quote payload or a file name: the tools and the CLI's
    last-resort handler print its type (and a position where known) only."""
    patient = "Mustermann_Erika_19800101.edi"
    rc = main(["send", "--bootstrap", broker.bootstrap, topic("send"),
               str(tmp_path / patient)])
    assert rc == 1
    err = capsys.readouterr().err
    assert "FileNotFoundError" in err
    for part in ("Mustermann", "Erika", "19800101", str(tmp_path)):
        assert part not in err, part

    async def boom(*_: object) -> int:
        raise ValueError("KVNR A123456789 Mustermann, Erika, geb. 01.01.1980")

    monkeypatch.setattr(tools, "_send", boom)
    (f := tmp_path / "a.edi").write_bytes(b"x")
    assert main(["send", "--bootstrap", broker.bootstrap, "t", str(f)]) == 2
    err = capsys.readouterr().err
    assert err == "stellwerk: internal error: ValueError\n"

    from sgb301 import EdifactSyntaxError  # noqa: PLC0415

    async def syntax(*_: object) -> int:
        raise EdifactSyntaxError("NAD+Mustermann+Erika", offset=42, segment_number=3)

    monkeypatch.setattr(tools, "_send", syntax)
    assert main(["send", "--bootstrap", broker.bootstrap, "t", str(f)]) == 2
    assert capsys.readouterr().err == (
        "stellwerk: internal error: EdifactSyntaxError (offset=42, segment_number=3)\n")


def test_send_unreachable_broker_exits_2_quickly(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "CONNECT_TIMEOUT", 1.0)
    (f := tmp_path / "a.edi").write_bytes(b"x")
    start = time.monotonic()
    rc = main(["send", "--bootstrap", f"127.0.0.1:{free_port()}", "t", str(f)])
    assert rc == 2
    assert time.monotonic() - start < 5
    cap = capsys.readouterr()
    assert "unreachable" in cap.err and "Traceback" not in cap.err


@pytest.mark.slow
def test_send_unreachable_broker_default_retry_is_bounded(tmp_path: Path) -> None:
    (f := tmp_path / "a.edi").write_bytes(b"x")
    start = time.monotonic()
    res = cli("send", "--bootstrap", f"127.0.0.1:{free_port()}", "t", str(f), timeout=40)
    assert res.returncode == 2
    assert time.monotonic() - start < 20
    assert "unreachable" in res.stderr and "Traceback" not in res.stderr


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STELLWERK_KAFKA_BOOTSTRAP", raising=False)
    with pytest.raises(SystemExit) as exc:
        main(["send", "t", "x"])  # no broker given
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["send", "--bootstrap", "127.0.0.1:1", "t"])  # no PATH
    assert exc.value.code == 2


def test_tail_decodes_envelopes_and_keeps_raw_values(
        broker: EmbeddedBroker, capsys: pytest.CaptureFixture[str]) -> None:
    name = topic("env")
    enc_json, _ = codec_for("json")
    enc_mp, _ = codec_for("msgpack")
    env_a, env_b = envelope(), envelope()
    fehl = b"UNA:+.? 'UNB+UNOC:3+120591481+260326822'UNH+1+FEHL:09:001:UV'\xe4'"
    produce(broker.bootstrap, name, [
        (b"120591481", enc_json.encode(env_a), [(ID_HEADER, env_a.id.encode())]),
        (b"120591481", enc_mp.encode(env_b), [(ENVELOPE_HEADER, b"msgpack")]),
        (b"260326822", fehl, [(ID_HEADER, b"reply:1")]),
        (None, b"\x00not an interchange", []),
    ])
    got = tail_json(capsys, broker.bootstrap, name)
    assert len(got) == 4
    envs = {r["value"]["id"]: r for r in got if isinstance(r["value"], dict)}
    raws = {r["key"]: r for r in got if isinstance(r["value"], str)}
    assert set(envs) == {env_a.id, env_b.id} and set(raws) == {"260326822", None}
    assert envs[env_a.id]["value"] == msgspec.to_builtins(env_a)
    assert envs[env_a.id]["headers"] == {ID_HEADER: env_a.id}
    assert envs[env_b.id]["value"] == msgspec.to_builtins(env_b)  # msgpack, by header
    assert envs[env_b.id]["value"]["raw"] == env_b.raw  # already a latin-1 string
    assert raws["260326822"]["value"].encode("latin-1") == fehl
    assert raws[None]["value"] == "\x00not an interchange"

    # human lines: metadata only, never the payload
    capsys.readouterr()
    assert main(["tail", "--bootstrap", broker.bootstrap, name, "--from-beginning",
                 "--max", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    text = "\n".join(lines)
    assert env_a.id in text and env_b.id in text and "type=AUFN" in text
    assert "UNH" not in text and "FKT" not in text and "not an interchange" not in text


def test_tail_json_decodes_utf8_headers(broker: EmbeddedBroker,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Header values are UTF-8 when they decode as such (the router writes its error texts
    in UTF-8), else ISO 8859-1; key and value stay ISO 8859-1 (bytes round-trip)."""
    name = topic("dlq")
    error = "1SW17: Prüfstufe 1 – Datensatz enthält unzulässige Zeichen"
    produce(broker.bootstrap, name, [
        (b"k\xe4", b"\x00raw \xfc", [("stellwerk-error", error.encode("utf-8")),
                                     ("x-latin1", "Größe".encode("latin-1"))]),
    ])
    (r,) = tail_json(capsys, broker.bootstrap, name)
    assert r["headers"] == {"stellwerk-error": error, "x-latin1": "Größe"}
    assert r["key"] == "kä" and r["value"].encode("latin-1") == b"\x00raw \xfc"


@pytest.mark.slow
def test_tail_starts_at_the_end(broker: EmbeddedBroker, tmp_path: Path) -> None:
    name = topic("end")
    # several records in one batch: the embedded broker under-reports ListOffsets then
    produce(broker.bootstrap, name, [(b"k", f"old {i}".encode(), []) for i in range(5)])
    proc = subprocess.Popen(
        [sys.executable, "-m", "router.cli", "tail", "--bootstrap", broker.bootstrap, name,
         "--json", "--timeout", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # positions are fixed once this is printed
        assert "tailing" in line and "from the end" in line
        produce(broker.bootstrap, name, [(b"k", b"new", [])])
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert [json.loads(x)["value"] for x in out.splitlines()] == ["new"]


# ---- replay ---------------------------------------------------------------------------
def test_replay_moves_records_once(broker: EmbeddedBroker,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = topic("held"), topic("again")
    originals = [(f"k{i}".encode(), f"value {i}".encode(), [("x-h", f"{i}".encode())])
                 for i in range(4)]
    produce(broker.bootstrap, src, originals)
    assert main(["replay", "--bootstrap", broker.bootstrap, "--from", src, "--to", dst]) == 0
    assert capsys.readouterr().out == f"replayed 4 record(s) from {src} to {dst}\n"

    source = {r["value"]: r for r in tail_json(capsys, broker.bootstrap, src)}
    got = tail_json(capsys, broker.bootstrap, dst)
    assert sorted(r["value"] for r in got) == sorted(v.decode() for _, v, _ in originals)
    for r in got:
        s = source[r["value"]]
        assert r["key"] == s["key"]
        assert r["headers"] == {**s["headers"],
                                tools.REPLAYED_HEADER: f"{src}/{s['partition']}/{s['offset']}"}
        assert ENVELOPE_HEADER not in r["headers"]

    # the replay group remembers: a second run replays nothing
    assert main(["replay", "--bootstrap", broker.bootstrap, "--from", src, "--to", dst]) == 0
    assert capsys.readouterr().out == f"replayed 0 record(s) from {src} to {dst}\n"
    # only what arrived since
    produce(broker.bootstrap, src, [(None, b"late", [])])
    assert main(["replay", "--bootstrap", broker.bootstrap, "--from", src, "--to", dst]) == 0
    assert capsys.readouterr().out == f"replayed 1 record(s) from {src} to {dst}\n"
    assert len(tail_json(capsys, broker.bootstrap, dst)) == 5


def test_replay_of_envelopes_goes_to_the_replay_topic(
        broker: EmbeddedBroker, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Held envelopes go to ``topics.replay`` (the only topic whose envelopes the router
    re-routes), marked with their format; a raw record held next to them goes to inbound
    unmarked (the router validates it as an interchange)."""
    src, inbound, replay = topic("s301.unroutable"), topic("inbound"), topic("replay")
    monkeypatch.setenv("STELLWERK_TOPICS_INBOUND", inbound)
    monkeypatch.setenv("STELLWERK_TOPICS_REPLAY", replay)
    enc_json, _ = codec_for("json")
    enc_mp, _ = codec_for("msgpack")
    env_a, env_b = envelope("109876543"), envelope("109876543")
    reply = b"UNA:+.? 'UNB+UNOC:3+120591481+260326822'UNH+1+FEHL:09:001:UV'"
    produce(broker.bootstrap, src, [
        (b"109876543", enc_json.encode(env_a), [(ID_HEADER, env_a.id.encode())]),
        (b"109876543", enc_mp.encode(env_b), [(ID_HEADER, env_b.id.encode())]),
        (b"260326822", reply, [(ID_HEADER, b"reply:1")]),  # raw EDIFACT, not an envelope
    ])
    assert main(["replay", "--bootstrap", broker.bootstrap, "--from", src]) == 0
    # several targets: each with its count, in name order
    assert capsys.readouterr().out == (f"replayed 3 record(s) from {src} to {inbound} (1), "
                                       f"{replay} (2)\n")
    held = {r["headers"][ID_HEADER]: r for r in tail_json(capsys, broker.bootstrap, replay)}
    assert set(held) == {env_a.id, env_b.id}
    assert held[env_a.id]["headers"][ENVELOPE_HEADER] == "json"
    assert held[env_b.id]["headers"][ENVELOPE_HEADER] == "msgpack"
    assert held[env_a.id]["key"] == "109876543"
    assert held[env_a.id]["headers"][tools.REPLAYED_HEADER].startswith(f"{src}/")
    raw = tail_json(capsys, broker.bootstrap, inbound)
    assert [r["headers"][ID_HEADER] for r in raw] == ["reply:1"]
    assert ENVELOPE_HEADER not in raw[0]["headers"]
    assert raw[0]["value"].encode("latin-1") == reply

    # the router, reading the replay topic, routes the envelope anew and keeps its id
    config = load_config(None, env={"STELLWERK_ROUTES": '{"109876543": "carrier.x"}',
                                    "STELLWERK_TOPICS_REPLAY": replay})
    rec = held[env_b.id]
    headers = tuple((k, v.encode("latin-1")) for k, v in rec["headers"].items())
    out = build_pipeline(config).process(InRecord(replay, rec["partition"], rec["offset"],
                                            b"109876543", enc_mp.encode(env_b), 0, headers))
    assert [(o.topic, o.kind, dict(o.headers)[ID_HEADER]) for o in out] == [
        ("carrier.x", "routed", env_b.id.encode())]


def test_replay_of_the_dlq_goes_to_inbound_unmarked(
        broker: EmbeddedBroker, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """DLQ records are original bytes: back to inbound, never marked as envelopes (a
    forged ``stellwerk-envelope`` header on them is dropped), whatever they look like."""
    dlq, inbound, replay = topic("dlq"), topic("inbound"), topic("replay")
    monkeypatch.setenv("STELLWERK_TOPICS_INBOUND", inbound)
    monkeypatch.setenv("STELLWERK_TOPICS_REPLAY", replay)
    monkeypatch.setenv("STELLWERK_TOPICS_DLQ", dlq)
    enc_json, _ = codec_for("json")
    produce(broker.bootstrap, dlq, [
        (b"k", enc_json.encode(envelope()), [(ID_HEADER, b"dlq:1"),
                                             (ENVELOPE_HEADER, b"json")]),
        (None, b"\x00garbage", [(ID_HEADER, b"dlq:2")]),
    ])
    assert main(["replay", "--bootstrap", broker.bootstrap, "--from", dlq]) == 0
    assert capsys.readouterr().out == f"replayed 2 record(s) from {dlq} to {inbound}\n"
    back = tail_json(capsys, broker.bootstrap, inbound)
    assert sorted(r["headers"][ID_HEADER] for r in back) == ["dlq:1", "dlq:2"]
    assert all(ENVELOPE_HEADER not in r["headers"] for r in back)
    assert all(r["headers"][tools.REPLAYED_HEADER].startswith(f"{dlq}/") for r in back)
    assert tail_json(capsys, broker.bootstrap, replay, timeout="0.5") == []


def test_replay_to_an_explicit_topic_wins(
        broker: EmbeddedBroker, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``--to`` takes every record, envelope or not (still marked: a router reading that
    topic as its replay topic can re-route them)."""
    src, dst, replay = topic("s301.unroutable"), topic("elsewhere"), topic("replay")
    monkeypatch.setenv("STELLWERK_TOPICS_REPLAY", replay)
    env = envelope()
    produce(broker.bootstrap, src, [(b"120591481", codec_for("json")[0].encode(env), []),
                                    (None, b"raw", [])])
    assert main(["replay", "--bootstrap", broker.bootstrap, "--from", src, "--to", dst]) == 0
    cap = capsys.readouterr()
    assert cap.out == f"replayed 2 record(s) from {src} to {dst}\n"
    assert replay in cap.err  # told that the router re-routes envelopes only from there
    got = tail_json(capsys, broker.bootstrap, dst)
    assert sorted(r["headers"].get(ENVELOPE_HEADER, "-") for r in got) == ["-", "json"]


def test_replay_of_a_missing_topic_exits_2(broker: EmbeddedBroker,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--bootstrap", broker.bootstrap, "--from", topic("nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


# ---- ingest ---------------------------------------------------------------------------
def test_ingest_once_sends_each_file_once_and_survives_restart(
        broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stellwerk.tools")
    name = topic("ingest")
    drop = tmp_path / "drop"
    drop.mkdir()
    files = {"a.edi": b"UNB a", "b.edi": b"UNB b \xe4", "c.eml": b"From: x\r\n\r\n"}
    for n, data in files.items():
        (drop / n).write_bytes(data)
    for n in (".hidden", "d.edi.tmp", "e.edi.part"):
        (drop / n).write_bytes(b"not yet")
    args = ["ingest", "dir", str(drop), "--topic", name, "--once", "--settle", "0",
            "--bootstrap", broker.bootstrap]
    assert main(args) == 0
    assert f"file {tools.name_digest('a.edi')} (5 bytes)" in caplog.text
    assert "a.edi" not in caplog.text and "UNB a" not in caplog.text  # never names, content
    assert sorted(p.name for p in (drop / "done").iterdir()) == sorted(files)
    assert sorted(p.name for p in drop.iterdir()) == sorted(
        [".hidden", "d.edi.tmp", "e.edi.part", "done", "failed"])

    # restart: nothing left to send
    assert main(args) == 0
    got = tail_json(capsys, broker.bootstrap, name)
    assert len(got) == 3
    assert sorted(r["value"].encode("latin-1") for r in got) == sorted(files.values())
    for r in got:
        assert r["headers"] == {tools.INPUT_ID_HEADER: input_id(r["value"].encode("latin-1"))}
    assert all(r["key"] is None for r in got)  # no UNB receiver IK in these

    # the same name again: sent, kept next to the first one
    (drop / "a.edi").write_bytes(b"UNB a second")
    assert main(args) == 0
    assert (drop / "done" / "a.edi").read_bytes() == b"UNB a"
    assert (drop / "done" / "a.1.edi").read_bytes() == b"UNB a second"
    assert len(tail_json(capsys, broker.bootstrap, name)) == 4


def test_ingest_moves_unreadable_entries_to_failed(
        broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = topic("ingest")
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "ok.edi").write_bytes(b"fine")
    (drop / "adir").mkdir()
    (drop / "dangling.edi").symlink_to(tmp_path / "gone")
    assert main(["ingest", "dir", str(drop), "--topic", name, "--once", "--settle", "0",
                 "--bootstrap", broker.bootstrap]) == 0
    failed = drop / "failed"
    assert sorted(p.name for p in failed.iterdir()) == [
        "adir", "adir.reason.txt", "dangling.edi", "dangling.edi.reason.txt"]
    assert "directory" in (failed / "adir.reason.txt").read_text()
    assert "symbolic link" in (failed / "dangling.edi.reason.txt").read_text()
    assert [p.name for p in (drop / "done").iterdir()] == ["ok.edi"]
    assert [r["value"] for r in tail_json(capsys, broker.bootstrap, name)] == ["fine"]


def test_ingest_once_unreachable_broker_keeps_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "CONNECT_TIMEOUT", 1.0)
    (tmp_path / "a.edi").write_bytes(b"x")
    assert main(["ingest", "dir", str(tmp_path), "--once",
                 "--bootstrap", f"127.0.0.1:{free_port()}"]) == 2
    assert (tmp_path / "a.edi").exists()
    assert "unreachable" in capsys.readouterr().err


def test_ingest_once_waits_for_a_slow_writer(
        broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file still being appended to is not ready: sent once, when it has settled, with
    every byte the writer wrote (also with --once, also on the first scan)."""
    name = topic("slow")
    drop = tmp_path / "drop"
    drop.mkdir()
    path = drop / "slow.edi"
    chunks = [f"segment {i}'".encode() for i in range(12)]
    path.write_bytes(chunks[0])
    started = threading.Event()

    def writer() -> None:
        started.set()
        with path.open("ab") as fh:
            for chunk in chunks[1:]:
                time.sleep(0.25)
                fh.write(chunk)
                fh.flush()

    t = threading.Thread(target=writer)
    t.start()
    started.wait()
    try:
        assert main(["ingest", "dir", str(drop), "--topic", name, "--once", "--settle", "1",
                     "--bootstrap", broker.bootstrap]) == 0
    finally:
        t.join()
    content = b"".join(chunks)
    got = tail_json(capsys, broker.bootstrap, name)
    assert [r["value"].encode("latin-1") for r in got] == [content]
    assert got[0]["headers"][tools.INPUT_ID_HEADER] == input_id(content)
    assert (drop / "done" / "slow.edi").read_bytes() == content


def test_ingest_once_leaves_an_unsettled_file_after_the_bound(
        broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """--once does not wait forever for a writer that never stops: after the bound the
    file stays where it is, unsent."""
    monkeypatch.setattr(tools, "INGEST_ONCE_BOUND", 1.0)
    name = topic("unsettled")
    drop = tmp_path / "drop"
    drop.mkdir()
    path = drop / "endless.edi"
    path.write_bytes(b"x")
    stop = threading.Event()

    def writer() -> None:
        with path.open("ab") as fh:
            while not stop.wait(0.1):
                fh.write(b"x")
                fh.flush()

    t = threading.Thread(target=writer)
    t.start()
    try:
        start = time.monotonic()
        assert main(["ingest", "dir", str(drop), "--topic", name, "--once", "--settle", "1",
                     "--bootstrap", broker.bootstrap]) == 0
        assert time.monotonic() - start < 10
    finally:
        stop.set()
        t.join()
    assert path.exists() and not (drop / "done" / "endless.edi").exists()
    assert tail_json(capsys, broker.bootstrap, name, timeout="0.5") == []


def test_ingest_keys_by_the_unb_receiver_and_ids_by_content(
        broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Key = receiver IK of UNB (per-receiver order), None for anything without a UNB;
    ``stellwerk-input-id`` = sha256 of the bytes, the same when the file comes again."""
    name = topic("keyed")
    drop = tmp_path / "drop"
    drop.mkdir()
    a, b = interchange("109876543"), interchange("120591481")
    no_una = interchange("123456789").split(b"'", 1)[1]  # UNB first, no UNA
    released = b"UNA:+.? 'UNB+UNOC?:3+260326822+987654321:X+260101:1200+1'"
    files = {"a.edi": a, "b.edi": b, "c.edi": no_una, "d.edi": released,
             "garbage.edi": b"\x00\xff UNB+no", "short.edi": b"UNB+UNOC:3+2603",
             "letters.edi": b"UNB+UNOC:3+260326822+Mustermann+x'"}
    for n, data in files.items():
        (drop / n).write_bytes(data)
    assert main(["ingest", "dir", str(drop), "--topic", name, "--once", "--settle", "0",
                 "--bootstrap", broker.bootstrap]) == 0
    got = {r["value"].encode("latin-1"): r for r in tail_json(capsys, broker.bootstrap, name)}
    assert set(got) == set(files.values())
    assert {n: got[v]["key"] for n, v in files.items()} == {
        "a.edi": "109876543", "b.edi": "120591481", "c.edi": "123456789",
        "d.edi": "987654321", "garbage.edi": None, "short.edi": None, "letters.edi": None}
    for data, r in got.items():
        assert r["headers"][tools.INPUT_ID_HEADER] == input_id(data)
    # the same bytes again (a crash between ack and move): recognisable duplicate
    (drop / "again.edi").write_bytes(a)
    assert main(["ingest", "dir", str(drop), "--topic", name, "--once", "--settle", "0",
                 "--bootstrap", broker.bootstrap]) == 0
    ids = [r["headers"][tools.INPUT_ID_HEADER] for r in tail_json(capsys, broker.bootstrap, name)]
    assert ids.count(input_id(a)) == 2


def test_ingest_never_logs_or_sends_file_names(broker: EmbeddedBroker, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """File names can hold patient names: stderr and headers show a digest of the name
    and the size only; done/ and failed/ keep the names on disk."""
    name = topic("names")
    drop = tmp_path / "drop"
    drop.mkdir()
    patient = "Mustermann_Erika_19800101.edi"
    (drop / patient).write_bytes(interchange())
    (drop / "Musterfrau_Anna_19750505").mkdir()  # cannot be sent: goes to failed/
    res = cli("ingest", "dir", str(drop), "--topic", name, "--once", "--settle", "0",
              "--bootstrap", broker.bootstrap, env={"STELLWERK_LOG_LEVEL": "DEBUG"})
    assert res.returncode == 0, res.stderr
    assert tools.name_digest(patient) in res.stderr
    assert f"({len(interchange())} bytes)" in res.stderr
    got = tail_json(capsys, broker.bootstrap, name)
    assert len(got) == 1
    shown = res.stderr + res.stdout + json.dumps(got[0]["headers"]) + str(got[0]["key"])
    for part in ("Mustermann", "Erika", "19800101", "Musterfrau", "Anna", "19750505"):
        assert part not in shown, part
    assert (drop / "done" / patient).exists()
    assert (drop / "failed" / "Musterfrau_Anna_19750505").is_dir()


@pytest.mark.slow
def test_ingest_watch_sends_only_complete_files(
        broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = topic("watch")
    drop = tmp_path / "drop"
    drop.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "router.cli", "ingest", "dir", str(drop), "--topic", name,
         "--interval", "0.3", "--settle", "1", "--bootstrap", broker.bootstrap],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # a file that keeps growing is not complete
        growing = drop / "big.edi"
        content = b""
        with growing.open("ab") as fh:
            for i in range(30):
                chunk = f"segment {i}'".encode()
                fh.write(chunk)
                fh.flush()
                content += chunk
                time.sleep(0.05)
                assert not (drop / "done" / "big.edi").exists()
        # written under a temporary name, then renamed
        (drop / "small.edi.part").write_bytes(b"small")
        (drop / "small.edi.part").rename(drop / "small.edi")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
                (drop / "done" / "big.edi").exists() and (drop / "done" / "small.edi").exists()):
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert sorted(p.name for p in (drop / "done").iterdir()) == ["big.edi", "small.edi"]
    got = [r["value"].encode("latin-1") for r in tail_json(capsys, broker.bootstrap, name)]
    assert sorted(got) == sorted([content, b"small"])
