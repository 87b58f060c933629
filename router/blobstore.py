"""The claim-check blob store: payloads too large for a Kafka record, by SHA-256.

A record that would exceed the configured size carries a reference
``sha256:<64 hex digits>`` instead of the bytes; the bytes live here, content-addressed,
so storing the same payload twice (a retry, a replay) writes nothing new.

>>> store = MemoryBlobStore()
>>> ref = store.put(b"UNB+...")
>>> ref.startswith("sha256:"), store.get(ref)
(True, b'UNB+...')
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

__all__ = ["BlobError", "BlobStore", "DirBlobStore", "MemoryBlobStore", "blob_ref"]

PREFIX = "sha256:"


class BlobError(Exception):
    """A blob could not be stored or found; ``retriable`` as on Kafka errors."""

    retriable = True


def blob_ref(data: bytes | memoryview) -> str:
    """The reference of ``data``: ``sha256:<hex>``."""
    return PREFIX + hashlib.sha256(data).hexdigest()


def _digest(ref: str) -> str:
    hexpart = ref.removeprefix(PREFIX)
    if not ref.startswith(PREFIX) or len(hexpart) != 64 or not all(
            c in "0123456789abcdef" for c in hexpart):
        raise BlobError(f"not a blob reference: {ref[:80]!r}")
    return hexpart


class BlobStore(Protocol):
    """Where claim-checked payloads go. ``written``/``written_bytes`` count the puts
    that stored something new (for metrics)."""

    written: int
    written_bytes: int

    def put(self, data: bytes | memoryview) -> str:
        """Store ``data`` (idempotent) and return its reference."""
        ...

    def get(self, ref: str) -> bytes:
        """The bytes of ``ref``; :class:`BlobError` if absent."""
        ...


class DirBlobStore:
    """A directory (a shared volume in production): ``<root>/ab/cd/<hex>``.

    Written to a temporary file, fsynced and renamed, so a crash never leaves a partial
    blob under a valid name; the reference is produced only after ``put`` returned.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.written = 0
        self.written_bytes = 0

    def _path(self, ref: str) -> Path:
        h = _digest(ref)
        return self.root / h[:2] / h[2:4] / h

    def put(self, data: bytes | memoryview) -> str:
        """Store ``data`` unless present; its reference."""
        ref = blob_ref(data)
        path = self._path(ref)
        if path.exists():
            return ref
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise BlobError(f"blob store {self.root}: {exc.strerror}") from exc
        self.written += 1
        self.written_bytes += len(data)
        return ref

    def get(self, ref: str) -> bytes:
        """The stored bytes."""
        try:
            return self._path(ref).read_bytes()
        except OSError as exc:
            raise BlobError(f"blob {ref} not in {self.root}") from exc


class MemoryBlobStore:
    """A dict, for tests and dry runs."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.written = 0
        self.written_bytes = 0

    def put(self, data: bytes | memoryview) -> str:
        """Store ``data``; its reference."""
        ref = blob_ref(data)
        if ref not in self.blobs:
            self.blobs[ref] = bytes(data)
            self.written += 1
            self.written_bytes += len(data)
        return ref

    def get(self, ref: str) -> bytes:
        """The stored bytes."""
        try:
            return self.blobs[ref]
        except KeyError as exc:
            raise BlobError(f"blob {ref} not stored") from exc
