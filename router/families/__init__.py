"""``router.families``: one adapter per payload family (§301, KIM) from codec to core."""

from __future__ import annotations

from sgb301 import activate_native

# Before .s301 is imported: its compiled build when sgb301 runs compiled (one build,
# all or nothing; see sgb301._native).
activate_native(__path__, __name__)

from ..blobstore import BlobStore, DirBlobStore
from ..config import Config
from ..core.dlq import DeadLetters
from ..core.family import Family, Tables
from ..core.pipeline import Pipeline
from ..core.tables import RoutingTable
from .s301 import ROUTES, S301Family

__all__ = ["ROUTES", "S301Family", "build_pipeline", "inline_max"]


def inline_max(config: Config) -> int:
    """Largest record value carried inline; above it a claim check is used."""
    limits = config.limits
    return min(limits.inline_max_bytes, limits.max_record_bytes - 1024)


def build_pipeline(config: Config, routes: RoutingTable | None = None,
                   blobs: BlobStore | None = None, *, kim: bool | None = None,
                   tables: Tables | None = None) -> Pipeline:
    """The pipeline of a router process: §301 always, KIM when ``config.kim.enabled``
    (or ``kim``). ``routes`` seeds the live routing table (tests)."""
    store = blobs if blobs is not None else DirBlobStore(config.limits.blob_dir)
    dead = DeadLetters(config.topics.dlq, store, inline_max(config))
    families: list[Family] = [S301Family(config, store, dead, routes)]
    if config.kim.enabled if kim is None else kim:
        from .kim import KimFamily  # noqa: PLC0415 - PDF/OCR libraries only when used

        families.append(KimFamily(config, store, dead))
    return Pipeline(families, tables if tables is not None else Tables(), dead)
