"""Configuration: one TOML file, every key overridable by ``STELLWERK_…`` variables.

The environment name of a key is its path joined with ``_`` and upper-cased:
``kafka.bootstrap`` → ``STELLWERK_KAFKA_BOOTSTRAP``, ``mode`` → ``STELLWERK_MODE``.
Tables such as ``routes`` take JSON (``STELLWERK_ROUTES='{"120591481": "uv.carrier"}'``).
Validated at start: an unknown key or a wrong type raises :class:`ConfigError` naming the
key, and the CLI exits 2. Secrets are masked in ``repr`` and logs.

>>> cfg = load_config(None, env={"STELLWERK_BATCH_MAX": "50"})
>>> cfg.batch_max, cfg.topics.inbound
(50, 's301.inbound')
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from sgb301 import NATIVE_SETTINGS

from .core.tables import valid_topic

__all__ = [
    "Config",
    "ConfigError",
    "KafkaConfig",
    "KimSettings",
    "LimitsConfig",
    "Secret",
    "TopicsConfig",
    "load_config",
    "public",
]


class ConfigError(Exception):
    """The configuration is invalid; the message names the key."""


class Secret:
    """A secret value that never shows or serialises in clear.

    ``str()``/``repr()`` give ``***``; ``msgspec.to_builtins`` and the JSON/msgpack
    encoders refuse it (no hook knows it) unless asked through :func:`public`, which
    masks it. Only :meth:`reveal` returns the value, for the one call that needs it.

    >>> s = Secret("hunter2")
    >>> str(s), repr(s), s.reveal()
    ('***', "Secret('***')", 'hunter2')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str = "") -> None:
        self._value = value

    def reveal(self) -> str:
        """The value in clear: only for handing it to the Kafka client."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __str__(self) -> str:
        return "***" if self._value else ""

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"


def _dec_hook(typ: type, obj: Any) -> Any:
    if typ is Secret and isinstance(obj, str):
        return Secret(obj)
    raise NotImplementedError(f"{typ!r}")


def _mask_hook(obj: Any) -> Any:
    if isinstance(obj, Secret):
        return str(obj)
    raise NotImplementedError(f"{type(obj)!r}")


def public(config: msgspec.Struct) -> Any:
    """The config as plain builtins with every secret masked (for logs and ``--show``)."""
    return msgspec.to_builtins(config, enc_hook=_mask_hook)


class KafkaConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Kafka connection. No ``bootstrap`` → ``stellwerk run`` starts the embedded broker.

    Security settings are passed through to aiokafka unchanged.
    """

    bootstrap: str = ""
    client_id: str = "stellwerk"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str = ""
    sasl_password: Secret = Secret("")
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    #: Idempotent producer (per-partition order and no duplicates from producer retries).
    #: ``auto``: on where the broker supports it (Apache Kafka), off where it does not
    #: (the embedded broker rejects InitProducerId); ``on`` fails the start instead.
    idempotence: Literal["auto", "on", "off"] = "auto"
    request_timeout_ms: int = 30000
    #: Longest time between two polls before the consumer leaves its group.
    max_poll_interval_ms: int = 300000
    #: A consumer without a heartbeat for this long is dropped from the group and its
    #: partitions move: the failover time after a crash. The embedded broker also holds a
    #: new member's first join for about half of it.
    session_timeout_ms: int = 10000
    #: Heartbeats to the group coordinator; at most a third of the session timeout.
    heartbeat_interval_ms: int = 3000
    #: Send LeaveGroup on a clean stop, so the group moves the partitions at once.
    #: ``auto``: only where the broker accepted the idempotent producer (Apache Kafka).
    #: The embedded Tansu broker can lose its group leader to a LeaveGroup that arrives
    #: while a new member joins (the group then never forms again), so there a stopping
    #: router simply stops heartbeating and its partitions move after the session timeout.
    leave_group: Literal["auto", "on", "off"] = "auto"


class TopicsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Topic names (defaults from DESIGN.md) and how to create missing ones."""

    inbound: str = "s301.inbound"
    replies: str = "s301.replies"
    rejected: str = "s301.rejected"
    unroutable: str = "s301.unroutable"
    test: str = "s301.test"
    dlq: str = "stellwerk.dlq"
    routes: str = "stellwerk.routes"
    #: The only topic whose ``stellwerk-envelope`` records are re-routed (protect it with
    #: ACLs: only ``stellwerk replay`` writes here).
    replay: str = "stellwerk.replay"
    partitions: int = 3
    replication: int = 1


class LimitsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Record sizes. ``max_record_bytes`` is what the brokers accept (Kafka's default
    ``max.message.bytes`` is 1 MiB; the producer's ``max_request_size`` is set to it);
    an output above ``inline_max_bytes`` carries a claim-check reference to the blob
    store instead of the payload."""

    max_record_bytes: int = 1048576
    inline_max_bytes: int = 1000000
    blob_dir: str = "stellwerk-blobs"


class KimSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The KIM family: topics, this MD, the worker pool for PDF/OCR work.

    ``cases`` are static Aktenzeichen → case topic entries under the live ``mima.cases``
    table (updates win). ``sources`` says where the Aktenzeichen may come from:
    ``pdf-text``, ``barcode``, ``ocr`` (the Muster 86), ``subject``.
    """

    enabled: bool = True
    inbound: str = "kim.inbound"
    quarantine: str = "kim.quarantine"
    unmatched: str = "kim.unmatched"
    notices: str = "kim.notices"
    cases_topic: str = "mima.cases"
    cases: dict[str, str] = {}
    md_name: str = "MD Sachsen"
    md_region: str = "Sachsen"
    md_address: str = "befunde@md-sachsen.kim.telematik"
    aktenzeichen_pattern: str = "[0-9]{18}"
    sources: tuple[str, ...] = ("pdf-text", "barcode", "ocr")
    integrity_ok: tuple[str, ...] = ("01",)
    #: Worker processes for mail analysis (PDF rendering, OCR); 0 = in the loop (tests).
    workers: int = 2
    #: Mails per batch: with ``mail_timeout`` it bounds a batch below the consumer's
    #: ``max_poll_interval_ms`` (ceil(batch_max / workers) * mail_timeout; checked).
    batch_max: int = 8
    #: Seconds one mail may take in a worker before it is quarantined (KIM27).
    mail_timeout: float = 60.0
    ocr: bool = True


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The whole router configuration."""

    mode: Literal["uv", "gkv"] = "uv"
    group_id: str = "stellwerk"
    batch_max: int = 500
    poll_timeout_ms: int = 200
    output_format: Literal["json", "msgpack"] = "json"
    #: Port of ``/metrics``, ``/healthz``, ``/readyz`` (0: not served). Several router
    #: processes on one host need one port each.
    metrics_port: int = 0
    metrics_host: str = "0.0.0.0"
    #: Parse durations (decode/validate histograms, segments) are timed for the first
    #: input record of a batch and one in this many after it; counts are exact. 1 times
    #: every record.
    metrics_sample: int = 32
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: ``text`` lines or ``json`` objects, one per line (ids, codes, offsets only).
    log_format: Literal["text", "json"] = "text"
    routes: dict[str, str] = {}
    responsibility: dict[str, str] = {}
    kafka: KafkaConfig = KafkaConfig()
    topics: TopicsConfig = TopicsConfig()
    limits: LimitsConfig = LimitsConfig()
    kim: KimSettings = KimSettings()
    #: Seconds to wait for ``stellwerk.routes`` to be read to its end before the first
    #: record is routed; the router does not consume before that.
    routes_load_timeout: float = 60.0
    #: Seconds a running send or commit may still take once stop was requested.
    stop_grace: float = 3.0

    def __post_init__(self) -> None:
        if self.batch_max < 1:
            raise ValueError("batch_max must be >= 1")
        if self.topics.partitions < 1:
            raise ValueError("topics.partitions must be >= 1")
        if not 0 < 3 * self.kafka.heartbeat_interval_ms <= self.kafka.session_timeout_ms:
            raise ValueError(
                f"kafka.heartbeat_interval_ms ({self.kafka.heartbeat_interval_ms}) must be "
                f"at most a third of kafka.session_timeout_ms "
                f"({self.kafka.session_timeout_ms}), or one late heartbeat drops the consumer")
        kim = self.kim
        batch_seconds = kim.mail_timeout * -(-kim.batch_max // max(1, kim.workers))
        if kim.enabled and batch_seconds >= self.kafka.max_poll_interval_ms / 1000:
            raise ValueError(
                f"kim: ceil(batch_max / workers) * mail_timeout = {batch_seconds:.0f}s must "
                f"stay below kafka.max_poll_interval_ms ({self.kafka.max_poll_interval_ms} "
                "ms), or the consumer leaves its group during a slow batch")
        if self.limits.inline_max_bytes < 1024:
            raise ValueError("limits.inline_max_bytes must be >= 1024")
        bad = sorted(t for t in (*self.routes.values(), *self.kim.cases.values())
                     if not valid_topic(t))
        if bad:
            raise ValueError(f"routes: not a valid Kafka topic name: {bad[0]!r}")


def _keys(cls: type[msgspec.Struct], prefix: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    """Environment name → key path for every leaf key."""
    out: dict[str, tuple[str, ...]] = {}
    for field in msgspec.structs.fields(cls):
        path = (*prefix, field.name)
        if isinstance(field.type, type) and issubclass(field.type, msgspec.Struct):
            out.update(_keys(field.type, path))
        else:
            out["STELLWERK_" + "_".join(path).upper()] = path
    return out


_ENV_KEYS = _keys(Config)
# Variables of the runtime, not config keys (the codec's own: where its compiled core
# lives, or pure Python).
_IGNORED = {"STELLWERK_CONFIG", "STELLWERK_POP3_PASSWORD", *NATIVE_SETTINGS}


def _env_value(raw: str, path: tuple[str, ...]) -> Any:
    field_type = _field_type(path)
    if field_type is int:
        return int(raw) if raw.lstrip("-").isdigit() else raw
    if field_type is float:
        try:
            return float(raw)
        except ValueError:
            return raw
    if field_type is bool:
        return raw.lower() in ("1", "true", "yes", "on")
    if getattr(field_type, "__origin__", None) is dict:
        try:
            return msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise ConfigError(f"STELLWERK_{'_'.join(path).upper()}: not JSON: {exc}") from exc
    return raw


def _field_type(path: tuple[str, ...]) -> Any:
    cls: Any = Config
    ftype: Any = None
    for name in path:
        ftype = next(f.type for f in msgspec.structs.fields(cls) if f.name == name)
        cls = ftype
    return ftype


def load_config(path: str | Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (TOML, optional), apply ``STELLWERK_…`` overrides, validate."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    for name, raw in env.items():
        if not name.startswith("STELLWERK_") or name in _IGNORED:
            continue
        key_path = _ENV_KEYS.get(name)
        if key_path is None:
            raise ConfigError(f"{name}: unknown configuration key")
        node = data
        for part in key_path[:-1]:
            node = node.setdefault(part, {})
        node[key_path[-1]] = _env_value(raw, key_path)
    try:
        return msgspec.convert(data, Config, dec_hook=_dec_hook)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc
