"""A real Dovecot POP3 server for the tests (Debian's ``dovecot-pop3d``).

:func:`dovecot_server` starts ``dovecot -F -c <conf>`` on a free loopback port with a
generated minimal configuration in a directory of its own: POP3 only, one user in a
``passwd-file``, a maildir, no TLS, cleartext login allowed. Mails are "delivered" by
writing files into the maildir's ``new/`` (what an MDA does), so no SMTP is needed.

Dovecot refuses mail access as UID 0, so the mailbox belongs to ``nobody``; the
directory is made with :func:`tempfile.mkdtemp` and opened up (0755) because pytest's
``tmp_path`` tree is 0700 and the unprivileged dovecot processes could not traverse it.

>>> _conf_line("port", 1)
'port = 1'
"""

from __future__ import annotations

import contextlib
import os
import poplib
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from router.kafka.broker import free_port

__all__ = ["DOVECOT", "Dovecot", "dovecot_server"]

DOVECOT = "/usr/sbin/dovecot"
USER = "kim-client"
PASSWORD = "fiktiv-Passwort-123"


def _conf_line(key: str, value: object) -> str:
    return f"{key} = {value}"


@dataclass
class Dovecot:
    """A running Dovecot: ``host``, ``port``, ``user``, ``password`` and its maildir."""

    host: str
    port: int
    user: str
    password: str
    root: Path
    maildir: Path
    proc: subprocess.Popen[bytes]
    uid: int
    gid: int
    #: Port of the POP3S listener and the self-signed certificate (a CA file for the
    #: client), when started with ``tls=True``.
    tls_port: int = 0
    cert: Path | None = None

    def deliver(self, mail: bytes) -> str:
        """Put ``mail`` into the mailbox (maildir ``new/``); returns the file name."""
        name = f"{time.time_ns()}.{uuid.uuid4().hex[:8]}.stellwerk-test"
        tmp = self.maildir / "tmp" / name
        tmp.write_bytes(mail)
        os.chown(tmp, self.uid, self.gid)
        os.rename(tmp, self.maildir / "new" / name)  # atomic, as an MDA does it
        return name

    def stored(self) -> list[bytes]:
        """The mails in the mailbox now (``new/`` and ``cur/``), sorted by file name."""
        files = sorted([*(self.maildir / "new").iterdir(), *(self.maildir / "cur").iterdir()],
                       key=lambda p: p.name)
        return [p.read_bytes() for p in files]

    def pop3_pids(self) -> list[int]:
        """Process ids of the POP3 and pop3-login processes (children of this dovecot)."""
        out = subprocess.run(["ps", "-eo", "pid=,ppid=,comm="], capture_output=True,
                             text=True, check=True).stdout
        pids = []
        for line in out.splitlines():
            pid, ppid, comm = line.split(None, 2)
            if int(ppid) == self.proc.pid and comm.strip().startswith("pop3"):
                pids.append(int(pid))
        return pids

    def count(self) -> int:
        """Number of messages as a POP3 client sees them (STAT)."""
        box = poplib.POP3(self.host, self.port, timeout=10)
        try:
            box.user(self.user)
            box.pass_(self.password)
            return int(box.stat()[0])
        finally:
            box.quit()

    @property
    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _config(root: Path, port: int, uid: int, tls_port: int) -> str:
    ssl = ([_conf_line("ssl", "yes"), f"ssl_cert = <{root}/cert.pem",
            f"ssl_key = <{root}/key.pem"] if tls_port else [_conf_line("ssl", "no")])
    lines = [
        *ssl,
        _conf_line("protocols", "pop3"),
        _conf_line("listen", "127.0.0.1"),
        _conf_line("base_dir", root / "run"),
        _conf_line("state_dir", root / "state"),
        _conf_line("log_path", root / "dovecot.log"),
        _conf_line("info_log_path", root / "dovecot.log"),
        # 2.3 spelling; 2.4 renamed it to auth_allow_cleartext.
        _conf_line("disable_plaintext_auth", "no"),
        _conf_line("auth_mechanisms", "plain"),
        # The wrong-password tests need no brute-force brake (default 2 s per failure).
        _conf_line("auth_failure_delay", "0"),
        _conf_line("mail_location", f"maildir:{root}/mail/%u"),
        _conf_line("first_valid_uid", uid),
        _conf_line("pop3_uidl_format", "%08Xu%08Xv"),
        _conf_line("shutdown_clients", "yes"),
        "passdb {",
        "  driver = passwd-file",
        f"  args = scheme=PLAIN username_format=%u {root}/users",
        "}",
        "userdb {",
        "  driver = passwd-file",
        f"  args = username_format=%u {root}/users",
        "}",
        "service pop3-login {",
        "  inet_listener pop3 {",
        f"    port = {port}",
        "  }",
        "  inet_listener pop3s {",
        f"    port = {tls_port}",
        "  }",
        "}",
        # Every pop3 session in a process of its own: SIGSTOP freezes exactly them.
        "service pop3 {",
        "  process_limit = 16",
        "}",
    ]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def dovecot_server(start_timeout: float = 15.0, tls: bool = False) -> Iterator[Dovecot]:
    """Start Dovecot (POP3 only) on a free loopback port; stop it and remove its files.

    ``tls``: also POP3S on another port and STLS on the plain one, with a self-signed
    certificate for 127.0.0.1 (``Dovecot.cert``, usable as the client's CA file).
    """
    if os.geteuid() != 0:
        raise RuntimeError("dovecot fixture needs root (dovecot drops privileges itself)")
    nobody = pwd.getpwnam("nobody")
    uid, gid = nobody.pw_uid, nobody.pw_gid
    root = Path(tempfile.mkdtemp(prefix="stellwerk-dovecot-"))
    root.chmod(0o755)
    port = free_port()
    tls_port = free_port() if tls else 0
    proc: subprocess.Popen[bytes] | None = None
    server: Dovecot | None = None
    try:
        for d in ("run", "state", "mail"):
            (root / d).mkdir()
        maildir = root / "mail" / USER
        for d in ("new", "cur", "tmp"):
            (maildir / d).mkdir(parents=True)
        for p in (maildir, *(maildir / d for d in ("new", "cur", "tmp"))):
            os.chown(p, uid, gid)
            p.chmod(0o700)
        (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::"
                                    f"{root}/mail/{USER}::\n")
        cert = root / "cert.pem" if tls else None
        if tls:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", str(root / "key.pem"), "-out", str(cert),
                            "-days", "1", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, capture_output=True)
        conf = root / "dovecot.conf"
        conf.write_text(_config(root, port, uid, tls_port))
        proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=(root / "stderr.log").open("wb"))
        server = Dovecot("127.0.0.1", port, USER, PASSWORD, root, maildir, proc, uid, gid,
                         tls_port, cert)
        deadline = time.monotonic() + start_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"dovecot exited {proc.returncode}: "
                                   f"{(root / 'stderr.log').read_text()}{server.log}")
            try:
                server.count()
                break
            except (OSError, poplib.error_proto):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"dovecot not ready: {server.log}") from None
                time.sleep(0.1)
        yield server
    finally:
        if proc is not None and proc.poll() is None:
            # Frozen children (a test's SIGSTOP) must not survive the server.
            for pid in server.pop3_pids() if server is not None else []:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)
