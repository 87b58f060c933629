"""The ``stellwerk`` command line.

Exit codes: 0 all accepted, 1 at least one rejected, 2 unreadable input or usage error.
Never a traceback: an unexpected failure is reported in one line with exit code 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec

from sgb301 import MODES, ValidationOptions
from sgb301.examples import load as load_examples

from ..config import Config, ConfigError, load_config
from .validate import EXIT_UNREADABLE, kim_config_of, reply_files, validate_files

__all__ = ["build_parser", "describe_failure", "main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_UNREADABLE)


def _when(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {text!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    p = _Parser(prog="stellwerk", description="Stellwerk: §301 / KIM message router")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    v = sub.add_parser("validate", help="validate §301 interchanges and KIM mails (files or - "
                       "for stdin; told apart by content)")
    v.add_argument("paths", nargs="+", metavar="PATH")
    v.add_argument("--json", action="store_true",
                   help="one JSON object per message or mail per line")
    v.add_argument("--mode", choices=MODES, default="uv", help="uv (DGUV rules, default) or gkv")
    v.add_argument("--test", action="store_true", help="sender declares UV test operation")
    v.add_argument("--config", metavar="FILE", default=None,
                   help="router config; its kim section (MD, Aktenzeichen pattern, sources, "
                   "ocr) applies to mails")

    r = sub.add_parser("reply", help="print the FEHL/KOUB reply interchange for each file")
    r.add_argument("paths", nargs="+", metavar="PATH")
    r.add_argument("--mode", choices=MODES, default="uv")
    r.add_argument("--test", action="store_true")
    r.add_argument("--now", type=_when, default=None,
                   help="processing time for KOS and UNB (ISO, default: now)")
    e = sub.add_parser("examples", help="write the published DGUV example interchanges")
    e.add_argument("--out", default="examples", metavar="DIR")

    run = sub.add_parser("run", help="run the router (embedded broker if none configured)")
    run.add_argument("--config", metavar="FILE", default=None)
    run.add_argument("--bootstrap", metavar="HOST:PORT", default=None)
    run.add_argument("--metrics-port", type=int, default=None, metavar="N",
                     help="serve /metrics, /healthz, /readyz on port N (overrides the "
                          "config's metrics_port; one port per router process)")
    run.add_argument("--log-format", choices=("text", "json"), default=None,
                     help="log lines as text (default) or JSON objects")
    run.add_argument("--workers", type=int, default=1, metavar="N",
                     help="N router processes in one consumer group (one per core; "
                          "metrics on metrics_port+i)")

    lag = sub.add_parser("lag-exporter",
                         help="serve the routers' consumer-group lag, read from the broker")
    lag.add_argument("--bootstrap", metavar="HOST:PORT", default=None)
    lag.add_argument("--config", metavar="FILE", default=None)
    lag.add_argument("--metrics-port", type=int, default=None, metavar="N")
    lag.add_argument("--interval", type=float, default=10.0, metavar="S",
                     help="seconds between two readings (default 10)")

    top = sub.add_parser("top", help="live view of running routers, from their /metrics")
    top.add_argument("urls", nargs="*", metavar="URL",
                     help="metrics endpoints (host:port or http://host:port/metrics); "
                          "default: localhost and the configured metrics_port")
    top.add_argument("--config", metavar="FILE", default=None)
    top.add_argument("--interval", type=float, default=2.0, metavar="S")
    top.add_argument("--once", action="store_true",
                     help="two readings --interval apart, one table, then exit")

    b = sub.add_parser("broker", help="run the embedded broker alone")
    b.add_argument("--port", type=int, default=0)

    def bootstrap_arg(q: argparse.ArgumentParser) -> None:
        q.add_argument("--bootstrap", metavar="HOST:PORT", default=None,
                       help="default: STELLWERK_KAFKA_BOOTSTRAP")
        q.add_argument("--config", metavar="FILE", default=None)

    s = sub.add_parser("send", help="send each file as one record")
    bootstrap_arg(s)
    s.add_argument("topic", metavar="TOPIC")
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.add_argument("--key", default=None)

    t = sub.add_parser("tail", help="print records of a topic as JSON lines")
    bootstrap_arg(t)
    t.add_argument("topic", metavar="TOPIC")
    t.add_argument("--from-beginning", action="store_true")
    t.add_argument("--max", type=int, default=0, metavar="N")
    t.add_argument("--timeout", type=float, default=0.0, metavar="S")
    t.add_argument("--json", action="store_true", help="one JSON object per record")

    rp = sub.add_parser("replay", help="re-inject held records (DLQ, unroutable)",
                        description="Envelopes (s301.unroutable, s301.rejected) go to the "
                        "replay topic, the only one whose envelopes the router re-routes; "
                        "raw records (stellwerk.dlq) go to the inbound topic.")
    bootstrap_arg(rp)
    rp.add_argument("--from", dest="source", required=True, metavar="TOPIC")
    rp.add_argument("--to", dest="target", default=None, metavar="TOPIC",
                    help="send every record here instead (default: envelopes to "
                    "topics.replay, raw records to topics.inbound)")

    ing = sub.add_parser("ingest", help="file-drop edge of a transport gateway")
    ing_sub = ing.add_subparsers(dest="ingest_kind", required=True, parser_class=_Parser)
    idir = ing_sub.add_parser("dir", help="watch a directory, send each complete file")
    bootstrap_arg(idir)
    idir.add_argument("path", metavar="PATH")
    idir.add_argument("--topic", default=None)
    idir.add_argument("--once", action="store_true", help="send what is there, then exit")
    idir.add_argument("--interval", type=float, default=1.0, metavar="S",
                      help="seconds between scans of PATH (default 1)")
    idir.add_argument("--settle", type=float, default=2.0, metavar="S",
                      help="a file is sent once its size and mtime stayed unchanged this "
                      "long (default 2; also with --once)")

    ipop = ing_sub.add_parser("pop3", help="fetch the KIM client module's POP3 mailbox",
                              description="Fetch every mail, produce it, then delete it on "
                              "the server; the password never on the command line.")
    bootstrap_arg(ipop)
    ipop.add_argument("--host", required=True)
    ipop.add_argument("--port", type=int, required=True)
    ipop.add_argument("--user", required=True)
    tls = ipop.add_mutually_exclusive_group()
    tls.add_argument("--tls", action="store_true", help="POP3 over TLS (POP3S)")
    tls.add_argument("--starttls", action="store_true", help="upgrade with STLS")
    ipop.add_argument("--cafile", default=None, metavar="FILE",
                      help="CA certificates for --tls/--starttls (default: the system's)")
    ipop.add_argument("--topic", default=None, help="default: kim.inbound (config)")
    ipop.add_argument("--once", action="store_true", help="one pass, then exit")
    ipop.add_argument("--interval", type=float, default=10.0, metavar="S",
                      help="seconds between passes (default 10)")
    ipop.add_argument("--ledger", default=None, metavar="PATH",
                      help="ledger of sent mails, also the one-poller lock")
    pw = ipop.add_mutually_exclusive_group()
    pw.add_argument("--password-env", default=None, metavar="NAME",
                    help="variable holding the password (default STELLWERK_POP3_PASSWORD)")
    pw.add_argument("--password-file", default=None, metavar="PATH")

    sub.add_parser("demo", help="embedded broker, seed examples, router, table of outputs")
    return p


def _write_examples(out_dir: str) -> int:
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    examples = load_examples()
    for name, data in examples.items():
        (target / f"{name}.edi").write_bytes(data)
    sys.stdout.write(f"wrote {len(examples)} example interchanges to {target}\n")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.command == "validate":
        opts = ValidationOptions(mode=args.mode, test=args.test, now=dt.datetime.now())
        return validate_files(args.paths, as_json=args.json, options=opts, out=sys.stdout,
                              stdin=sys.stdin.buffer, kim=kim_config_of(_config(args.config)))
    if args.command == "reply":
        opts = ValidationOptions(mode=args.mode, test=args.test)
        return reply_files(args.paths, options=opts, now=args.now or dt.datetime.now(),
                           out=sys.stdout.buffer, err=sys.stderr, stdin=sys.stdin.buffer)
    if args.command == "examples":
        return _write_examples(args.out)
    if args.command == "run":
        from ..app import run_command  # noqa: PLC0415 - keep validate free of Kafka imports

        config = _config(args.config)
        overrides = {k: v for k, v in (("metrics_port", args.metrics_port),
                                       ("log_format", args.log_format)) if v is not None}
        if overrides:
            config = msgspec.structs.replace(config, **overrides)
        if args.workers > 1:
            from .workers import run_workers  # noqa: PLC0415

            return run_workers(config, args.bootstrap, args.workers, args.config)
        if args.workers < 1:
            sys.stderr.write("stellwerk: --workers must be at least 1\n")
            return 2
        return run_command(config, args.bootstrap)
    if args.command == "lag-exporter":
        from .lag import lag_exporter_main  # noqa: PLC0415

        return lag_exporter_main(args, _config(args.config))
    if args.command == "top":
        from .top import top_main  # noqa: PLC0415

        return top_main(args, _config(args.config))
    if args.command == "broker":
        from .tools import broker_main  # noqa: PLC0415

        return broker_main(args.port)
    if args.command == "demo":
        from .demo import demo_main  # noqa: PLC0415

        return demo_main()
    if args.command == "ingest" and args.ingest_kind == "pop3":
        from .pop3 import pop3_config, pop3_main  # noqa: PLC0415

        return pop3_main(args, pop3_config(args))
    from . import tools  # noqa: PLC0415

    return int(getattr(tools, f"{args.command}_main")(args, _config(args.config)))


def _config(path: str | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        sys.stderr.write(f"stellwerk: {exc}\n")
        raise SystemExit(EXIT_UNREADABLE) from exc


def describe_failure(exc: BaseException) -> str:
    """The exception's type and, where it carries one, its position; never its text.

    An exception's message may quote the payload (a name, a KVNR, a segment) or a file
    name, so only fields that are numbers are shown: ``offset``/``segment_number``
    (``EdifactSyntaxError``), ``start`` (``UnicodeError``), ``pos`` (JSON errors),
    ``errno`` (``OSError``).

    >>> describe_failure(UnicodeDecodeError("utf-8", b"M\\xfcller", 1, 2, "invalid"))
    'UnicodeDecodeError (start=1)'
    """
    found = []
    for attr in ("offset", "segment_number", "start", "pos", "lineno", "errno"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and not isinstance(value, bool):
            found.append(f"{attr}={value}")
    where = f" ({', '.join(found)})" if found else ""
    return f"{type(exc).__name__}{where}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (also used as the console script)."""
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the contract: never a traceback
        # The type and position only: the message may quote payload (health data).
        sys.stderr.write(f"stellwerk: internal error: {describe_failure(exc)}\n")
        return EXIT_UNREADABLE

