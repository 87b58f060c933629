"""``stellwerk ingest pop3``: the KIM client module's POP3 mailbox → ``kim.inbound``.

The KIM client module (Clientmodul) decrypts KIM mails and offers them to the primary
system over POP3. This poller fetches every mail, produces it unchanged to Kafka and
only then deletes it on the server. Delivery is effectively exactly-once per mail:

1. ``UIDL`` and ``LIST`` (unique ids, sizes), then per mail ``RETR``;
2. produce to ``--topic`` (acks=all) and wait for the acknowledgement;
3. append ``<UID> sha256:<hex>`` to the ledger (append-only file, fsync);
4. ``DELE``; at the end of the pass ``QUIT`` (POP3 deletes only at ``QUIT``).

If the process dies after 2 and before ``QUIT`` the mail is still on the server at the
next pass. Its UID is then in the ledger: it is *not* produced again but only deleted,
provided the SHA-256 of the mail retrieved now equals the ledger's (a different mail
under a reused UID is produced normally, with a warning). A death between 2 and 3 gives
one duplicate with the same ``stellwerk-input-id`` (content-derived, so recognisable).

The ledger also is the mailbox lock: the poller holds an exclusive ``flock`` on it for
its whole life, so a second poller on the same ledger exits 2 at once.

Nothing here logs a subject, an address or content: only UIDs, sizes, digests,
partitions/offsets and counts. The password is never taken from the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import poplib
import re
import ssl
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..app import run_async
from ..config import Config, ConfigError, load_config
from ..kafka import (
    AIOKafkaProducer,
    KafkaError,
    MessageSizeTooLargeError,
    connection_kwargs,
)
from .tools import (
    INPUT_ID_HEADER,
    BrokerUnreachableError,
    _fail,
    _install_stop,
    _quiet,
    _start_ingest,
    bootstrap_of,
)

__all__ = [
    "DEFAULT_PASSWORD_ENV",
    "SOURCE_HEADER",
    "Ledger",
    "LedgerLockedError",
    "message_id",
    "pop3_config",
    "pop3_main",
]

log = logging.getLogger("stellwerk.pop3")

EXIT_OK, EXIT_PARTIAL, EXIT_FATAL = 0, 1, 2
#: Environment variable holding the mailbox password unless ``--password-env`` names another.
DEFAULT_PASSWORD_ENV = "STELLWERK_POP3_PASSWORD"
#: Header naming where an ingested record came from.
SOURCE_HEADER = "stellwerk-source"
#: Seconds a single POP3 command may take (a socket timeout, so a dead server or a
#: frozen session cannot block a pass, nor a SIGTERM, forever).
POP3_TIMEOUT = 60.0
#: Bytes the record needs beyond the mail: key, headers, batch framing (generous).
_RECORD_OVERHEAD = 4096
#: A ledger line: the UID (RFC 1939: 1-70 printable characters 0x21-0x7E) and the digest.
_LEDGER_LINE = re.compile(rb"^([\x21-\x7e]{1,70}) sha256:([0-9a-f]{64})$")


class Pop3Error(Exception):
    """The POP3 server could not be reached or talked to (never carries server text)."""


class Pop3AuthError(Pop3Error):
    """The server refused the user name or the password."""


class LedgerLockedError(Exception):
    """Another poller holds the ledger's lock."""


# ---- ledger ---------------------------------------------------------------------------
class Ledger:
    """Append-only record of mails acknowledged by the broker: ``<UID> sha256:<hex>``.

    Opened with an exclusive, non-blocking ``flock`` held until :meth:`close`; a second
    process gets :class:`LedgerLockedError`. A torn last line (death during a write) is
    ignored when reading and terminated before the next append. A UID recorded twice
    (a reused UID) keeps its last digest.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._fd)
            raise LedgerLockedError(str(path)) from exc
        self.entries: dict[str, str] = {}
        data = b""
        with os.fdopen(os.dup(self._fd), "rb") as fh:
            fh.seek(0)
            data = fh.read()
        for line in data.split(b"\n"):
            m = _LEDGER_LINE.match(line)
            if m:
                self.entries[m.group(1).decode("ascii")] = m.group(2).decode("ascii")
        # A torn line gets its newline now, so the next entry starts on a line of its own.
        self._needs_newline = bool(data) and not data.endswith(b"\n")

    def digest_of(self, uid: str) -> str | None:
        """The SHA-256 (hex) recorded for ``uid``, or None."""
        return self.entries.get(uid)

    def record(self, uid: str, digest: str) -> None:
        """Append ``uid`` with ``digest`` and fsync before returning (the DELE that
        follows relies on it being on disk)."""
        line = f"{uid} sha256:{digest}\n".encode("ascii")
        if self._needs_newline:
            line = b"\n" + line
        os.write(self._fd, line)
        os.fsync(self._fd)
        self._needs_newline = False
        self.entries[uid] = digest

    def close(self) -> None:
        """Release the lock (closing the descriptor does that)."""
        os.close(self._fd)


# ---- mail helpers ---------------------------------------------------------------------
def message_id(mail: bytes) -> bytes | None:
    """The ``Message-ID`` header's value as bytes (unfolded, stripped), or None.

    Read from the header block only, without decoding: the key must be the bytes the
    sender wrote, and a broken header elsewhere must not stop the edge.

    >>> message_id(b"Subject: x\\r\\nMessage-ID:\\r\\n <a@b.example>\\r\\n\\r\\nbody")
    b'<a@b.example>'
    >>> message_id(b"Subject: x\\r\\n\\r\\nMessage-ID: <not-a-header>\\r\\n") is None
    True
    """
    head = re.split(rb"\r?\n\r?\n", mail, maxsplit=1)[0]
    unfolded = re.sub(rb"\r?\n[ \t]", b" ", head)
    for line in re.split(rb"\r?\n", unfolded):
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"message-id":
            value = value.strip()
            return value or None
    return None


def _read_password(args: argparse.Namespace) -> str:
    """The password from ``--password-file`` or the environment; SystemExit(2) if none."""
    if args.password_file:
        try:
            text = Path(args.password_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SystemExit(_fail(f"ingest pop3: cannot read the password file "
                                   f"({type(exc).__name__})")) from exc
        # One trailing line end is the file's, not the password's.
        password = text[:-1] if text.endswith("\n") else text
        password = password[:-1] if password.endswith("\r") else password
    else:
        name = args.password_env or DEFAULT_PASSWORD_ENV
        password = os.environ.get(name, "")
        if not password:
            raise SystemExit(_fail(f"ingest pop3: no password: set {name} or pass "
                                   "--password-file PATH"))
    if not password:
        raise SystemExit(_fail("ingest pop3: the password file is empty"))
    return password


def pop3_config(args: argparse.Namespace) -> Config:
    """The configuration for ``ingest pop3``.

    ``load_config`` rejects every unknown ``STELLWERK_…`` variable, and the default
    password variable is one; so it is left out of the environment the config sees.
    """
    skip = {args.password_env or DEFAULT_PASSWORD_ENV}
    try:
        return load_config(args.config, {k: v for k, v in os.environ.items()
                                         if k not in skip})
    except ConfigError as exc:
        sys.stderr.write(f"stellwerk: {exc}\n")
        raise SystemExit(EXIT_FATAL) from exc


# ---- POP3 session ---------------------------------------------------------------------
@dataclass(frozen=True)
class Mailbox:
    """Where and how to log in."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    tls: bool = False
    starttls: bool = False
    cafile: str | None = None

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile)

    def connect(self) -> poplib.POP3:
        """A logged-in session (blocking: run it in a thread)."""
        try:
            box: poplib.POP3
            if self.tls:
                box = poplib.POP3_SSL(self.host, self.port, timeout=POP3_TIMEOUT,
                                      context=self.context())
            else:
                box = poplib.POP3(self.host, self.port, timeout=POP3_TIMEOUT)
                if self.starttls:
                    box.stls(self.context())
        except (OSError, poplib.error_proto) as exc:
            raise Pop3Error(f"cannot connect ({type(exc).__name__})") from exc
        try:
            box.user(self.user)
            box.pass_(self.password)
        except poplib.error_proto as exc:
            with contextlib.suppress(Exception):
                box.close()
            raise Pop3AuthError("login refused") from exc
        except OSError as exc:
            with contextlib.suppress(Exception):
                box.close()
            raise Pop3Error(f"connection lost at login ({type(exc).__name__})") from exc
        return box


def _listing(box: poplib.POP3) -> list[tuple[int, str, int]]:
    """(message number, UID, size in octets) of every mail (blocking)."""
    uids: dict[int, str] = {}
    for line in box.uidl()[1]:
        num, uid = line.split(None, 1)
        uids[int(num)] = uid.strip().decode("ascii", "replace")
    sizes: dict[int, int] = {}
    for line in box.list()[1]:
        num, size = line.split(None, 1)
        sizes[int(num)] = int(size.split()[0])
    return [(n, uids[n], sizes.get(n, 0)) for n in sorted(uids)]


def _retrieve(box: poplib.POP3, num: int) -> bytes:
    """The mail as the server sends it, CRLF line ends, dot-unstuffed (blocking)."""
    lines = box.retr(num)[1]
    return b"\r\n".join(lines) + b"\r\n" if lines else b""


@dataclass
class PassResult:
    """Counts of one pass over the mailbox."""

    sent: int = 0
    redeleted: int = 0  # in the ledger with the same digest: deleted, not produced again
    oversized: int = 0
    unacked: int = 0

    @property
    def failed(self) -> int:
        return self.oversized + self.unacked


class Poller:
    """One mailbox and one ledger; :meth:`run_pass` is one POP3 session."""

    def __init__(self, mailbox: Mailbox, producer: Any, topic: str, ledger: Ledger,
                 max_bytes: int, stop: asyncio.Event) -> None:
        self.mailbox = mailbox
        self.producer = producer
        self.topic = topic
        self.ledger = ledger
        self.max_bytes = max_bytes
        self.stop = stop
        #: UID → size of mails kept because too large, logged once per UID and process.
        self.reported: dict[str, int] = {}
        # poplib refuses lines over 2048 bytes, but KIM mails (HTML parts, long header
        # lines) have longer ones; no line can be longer than a mail that may be sent.
        if getattr(poplib, "_MAXLINE", 0) < max_bytes:
            setattr(poplib, "_MAXLINE", max_bytes)  # noqa: B010 - private, untyped

    def _too_large(self, size: int) -> bool:
        return size + _RECORD_OVERHEAD > self.max_bytes

    def _keep_oversized(self, uid: str, size: int, result: PassResult) -> None:
        result.oversized += 1
        if self.reported.get(uid) != size:
            self.reported[uid] = size
            log.error("pop3: mail %s (%d bytes) larger than a record may be (%d); kept on "
                      "the server", uid, size, self.max_bytes)

    async def run_pass(self) -> PassResult:
        """Fetch, produce, record and delete every mail; QUIT (commits the DELEs).

        Raises :class:`Pop3Error` when the server cannot be reached or refuses the login.
        Stops after the current mail when ``stop`` is set. A broker that does not
        acknowledge ends the pass (the mail and all after it stay on the server).
        """
        result = PassResult()
        box = await asyncio.to_thread(self.mailbox.connect)
        try:
            try:
                listing = await asyncio.to_thread(_listing, box)
            except (OSError, poplib.error_proto) as exc:
                raise Pop3Error(f"listing failed ({type(exc).__name__})") from exc
            for num, uid, size in listing:
                if self.stop.is_set():
                    break
                if not await self._one(box, num, uid, size, result):
                    break
            try:
                await asyncio.to_thread(box.quit)
            except (OSError, poplib.error_proto) as exc:
                # The DELEs are not committed; the ledger makes the next pass delete
                # those mails without producing them again.
                raise Pop3Error(f"QUIT failed ({type(exc).__name__})") from exc
        finally:
            with contextlib.suppress(Exception):
                box.close()
        return result

    async def _one(self, box: poplib.POP3, num: int, uid: str, size: int,
                   result: PassResult) -> bool:
        """Handle one mail; False when the pass should end (the broker failed)."""
        if self._too_large(size):  # by the server's LIST size: not even downloaded
            self._keep_oversized(uid, size, result)
            return True
        try:
            mail = await asyncio.to_thread(_retrieve, box, num)
        except (OSError, poplib.error_proto) as exc:
            raise Pop3Error(f"RETR failed ({type(exc).__name__})") from exc
        if self._too_large(len(mail)):
            self._keep_oversized(uid, len(mail), result)
            return True
        digest = hashlib.sha256(mail).hexdigest()
        known = self.ledger.digest_of(uid)
        if known == digest:
            # Acknowledged earlier, but the DELE never reached a QUIT: delete only.
            log.info("pop3: mail %s (%d bytes) already sent as sha256:%s; deleting it",
                     uid, len(mail), digest)
            await self._dele(box, num)
            result.redeleted += 1
            return True
        if known is not None:
            log.warning("pop3: mail %s reuses a UID of the ledger with other content "
                        "(sha256:%s, recorded sha256:%s); producing it", uid, digest, known)
        headers = [(INPUT_ID_HEADER, f"sha256:{digest}".encode()),
                   (SOURCE_HEADER, b"pop3")]
        try:
            fut = await self.producer.send(self.topic, mail, key=message_id(mail),
                                           headers=headers)
            meta = await fut
        except MessageSizeTooLargeError:
            self._keep_oversized(uid, len(mail), result)
            return True
        except KafkaError as exc:
            log.error("pop3: mail %s (%d bytes) not acknowledged (%s); kept on the server",
                      uid, len(mail), type(exc).__name__)
            result.unacked += 1
            return False
        self.ledger.record(uid, digest)
        await self._dele(box, num)
        result.sent += 1
        log.info("pop3: mail %s (%d bytes) → %s/%d@%d sha256:%s", uid, len(mail),
                 self.topic, meta.partition, meta.offset, digest)
        return True

    @staticmethod
    async def _dele(box: poplib.POP3, num: int) -> None:
        try:
            await asyncio.to_thread(box.dele, num)
        except (OSError, poplib.error_proto) as exc:
            raise Pop3Error(f"DELE failed ({type(exc).__name__})") from exc


# ---- entry point ----------------------------------------------------------------------
def _default_ledger(mailbox: Mailbox) -> Path:
    return Path(f"stellwerk-pop3.{mailbox.user}@{mailbox.host}_{mailbox.port}.ledger")


def pop3_main(args: argparse.Namespace, config: Config) -> int:
    """``stellwerk ingest pop3 --host H --port P --user U [--tls | --starttls]
    [--cafile F] [--topic T] [--once] [--interval S] [--ledger PATH]
    [--password-env NAME | --password-file PATH] [--bootstrap B] [--config C]``.

    Fetches every mail of the mailbox into ``--topic`` (default ``kim.inbound``) and
    deletes it there once acknowledged (see the module docstring for the order and the
    ledger). Record: key = the ``Message-ID`` header's bytes (none without one), value =
    the mail as retrieved (CRLF line ends), headers ``stellwerk-input-id:
    sha256:<hex>`` and ``stellwerk-source: pop3``.

    The password comes from the variable ``--password-env`` names (default
    ``STELLWERK_POP3_PASSWORD``) or from ``--password-file`` (one trailing line end
    stripped), never from the command line. ``--ledger`` defaults to
    ``stellwerk-pop3.<user>@<host>_<port>.ledger`` in the working directory.

    A mail larger than ``limits.max_record_bytes`` (minus room for key and headers) is
    kept on the server, logged by UID and size, and counted; it does not stop the others.

    Exit codes with ``--once`` (one pass): 0 every mail sent; 1 some mail was kept
    because too large; 2 broker or POP3 server unreachable, login refused, a mail not
    acknowledged, the ledger locked by another poller, or a usage error. Without
    ``--once`` it polls every ``--interval`` seconds (an unreachable server or broker is
    retried) until SIGTERM/SIGINT, which finishes the current mail and QUITs (exit 0); a
    refused login exits 2 (retrying a wrong password could lock the account).
    """
    if args.interval <= 0:
        return _fail("ingest pop3: --interval must be positive")
    if not 0 < args.port < 65536:
        return _fail("ingest pop3: --port must be 1-65535")
    if args.tls and args.starttls:
        return _fail("ingest pop3: --tls and --starttls exclude each other")
    bootstrap = bootstrap_of(args, config)
    password = _read_password(args)
    mailbox = Mailbox(args.host, args.port, args.user, password, args.tls, args.starttls,
                      args.cafile)
    ledger_path = Path(args.ledger) if args.ledger else _default_ledger(mailbox)
    _quiet(config)
    try:
        ledger = Ledger(ledger_path)
    except LedgerLockedError:
        return _fail(f"ingest pop3: another poller holds the ledger {ledger_path} "
                     "(one poller per mailbox)")
    except OSError as exc:
        return _fail(f"ingest pop3: cannot open the ledger {ledger_path} "
                     f"({type(exc).__name__})")
    topic = args.topic or config.kim.inbound
    try:
        return run_async(lambda: _poll(config, bootstrap, mailbox, ledger, topic, args.once,
                                 float(args.interval)))
    except BrokerUnreachableError as exc:
        return _fail(str(exc))
    finally:
        ledger.close()


def _producer(config: Config, bootstrap: str) -> AIOKafkaProducer:
    # acks=all and one request at a time: the ledger and the DELE follow each ack.
    return AIOKafkaProducer(**connection_kwargs(config.kafka, bootstrap), acks="all",
                            max_request_size=config.limits.max_record_bytes,
                            request_timeout_ms=15000)


async def _poll(config: Config, bootstrap: str, mailbox: Mailbox, ledger: Ledger,
                topic: str, once: bool, interval: float) -> int:
    stop = asyncio.Event()
    _install_stop(stop)
    producer = _producer(config, bootstrap)
    if not await _start_ingest(producer, "ingest pop3", once, stop):
        return EXIT_OK
    poller = Poller(mailbox, producer, topic, ledger, config.limits.max_record_bytes, stop)
    log.info("ingest pop3: %s@%s:%d → %s%s", mailbox.user, mailbox.host, mailbox.port,
             topic, " (once)" if once else f" every {interval:g}s")
    try:
        while True:
            try:
                result = await poller.run_pass()
            except Pop3AuthError:
                return _fail(f"ingest pop3: {mailbox.host}:{mailbox.port} refused the "
                             f"login of {mailbox.user}")
            except Pop3Error as exc:
                if once:
                    return _fail(f"ingest pop3: POP3 server {mailbox.host}:{mailbox.port}:"
                                 f" {exc}")
                log.warning("ingest pop3: POP3 server: %s; retrying in %gs", exc, interval)
            else:
                if result.sent or result.redeleted or result.failed or once:
                    log.info("ingest pop3: %d sent, %d already sent and deleted, %d too "
                             "large (kept), %d not acknowledged", result.sent,
                             result.redeleted, result.oversized, result.unacked)
                if once:
                    if result.unacked:
                        return _fail(f"ingest pop3: {result.unacked} mail(s) not "
                                     "acknowledged; they stay on the server")
                    return EXIT_PARTIAL if result.oversized else EXIT_OK
            if stop.is_set():
                return EXIT_OK
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            if stop.is_set():
                return EXIT_OK
    finally:
        await producer.stop()
