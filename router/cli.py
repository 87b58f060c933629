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

from sgb301 import MODES, ValidationOptions
from sgb301.examples import load as load_examples

from .validate_cmd import EXIT_UNREADABLE, reply_files, validate_files

__all__ = ["build_parser", "main"]


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

    v = sub.add_parser("validate", help="validate §301 interchanges (files or - for stdin)")
    v.add_argument("paths", nargs="+", metavar="PATH")
    v.add_argument("--json", action="store_true", help="one JSON object per message per line")
    v.add_argument("--mode", choices=MODES, default="uv", help="uv (DGUV rules, default) or gkv")
    v.add_argument("--test", action="store_true", help="sender declares UV test operation")

    r = sub.add_parser("reply", help="print the FEHL/KOUB reply interchange for each file")
    r.add_argument("paths", nargs="+", metavar="PATH")
    r.add_argument("--mode", choices=MODES, default="uv")
    r.add_argument("--test", action="store_true")
    r.add_argument("--now", type=_when, default=None,
                   help="processing time for KOS and UNB (ISO, default: now)")
    e = sub.add_parser("examples", help="write the published DGUV example interchanges")
    e.add_argument("--out", default="examples", metavar="DIR")
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
                              stdin=sys.stdin.buffer)
    if args.command == "reply":
        opts = ValidationOptions(mode=args.mode, test=args.test)
        return reply_files(args.paths, options=opts, now=args.now or dt.datetime.now(),
                           out=sys.stdout.buffer, err=sys.stderr, stdin=sys.stdin.buffer)
    if args.command == "examples":
        return _write_examples(args.out)
    raise AssertionError(args.command)


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
        sys.stderr.write(f"stellwerk: internal error: {type(exc).__name__}: {exc}\n")
        return EXIT_UNREADABLE


if __name__ == "__main__":
    raise SystemExit(main())
