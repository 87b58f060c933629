"""Logging: plain lines or one JSON object per line (``log_format = "json"``).

What is logged is the same either way: message ids, IKs of institutions, types, codes,
topics, partitions and offsets — never names, insurance numbers, dates of birth or
document content (see README, "Health data"). The JSON form adds the fields a log
pipeline indexes (``ts``, ``level``, ``logger``, ``msg``) and any ``extra=`` fields a call
passes, plus the exception's class (never its text, which could quote payload).

>>> import logging
>>> rec = logging.LogRecord("stellwerk", logging.INFO, "x.py", 1, "batch offset=%d", (7,), None)
>>> JsonFormatter().format(rec)[-59:]
'"level":"INFO","logger":"stellwerk","msg":"batch offset=7"}'
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Literal

import orjson

__all__ = ["JsonFormatter", "configure_logging"]

# attributes every LogRecord has; anything else came in through ``extra=``
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        """``{"ts": …, "level": …, "logger": …, "msg": …, <extra fields>}``."""
        out: dict[str, object] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            out["exception"] = record.exc_info[0].__name__
        return orjson.dumps(out, default=str).decode()


class _AssignmentEcho(logging.Filter):
    """Drops aiokafka's lines of partitions assigned and revoked: the source logs them
    itself, sorted and shorter (no ``TopicPartition`` reprs)."""

    _SAID = ("Setting newly assigned partitions", "Revoking previously assigned partitions")

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(self._SAID))


def configure_logging(level: str = "INFO", fmt: Literal["text", "json"] = "text") -> None:
    """Log to stderr, as plain lines or JSON lines; aiokafka only from WARNING up, except
    its group coordinator (joins, generations, leader election: what an operator needs to
    follow a rebalance)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    # Replace only what an earlier call installed: other handlers (a test's log capture,
    # an embedding application's) stay.
    for old in [h for h in root.handlers if getattr(h, "_stellwerk", False)]:
        root.removeHandler(old)
    handler._stellwerk = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    coordinator = logging.getLogger("aiokafka.consumer.group_coordinator")
    coordinator.setLevel(level)
    if not any(isinstance(f, _AssignmentEcho) for f in coordinator.filters):
        coordinator.addFilter(_AssignmentEcho())
