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

__all__ = ["Config", "ConfigError", "KafkaConfig", "Secret", "TopicsConfig", "load_config"]


class ConfigError(Exception):
    """The configuration is invalid; the message names the key."""


class Secret(str):
    """A string that never shows its value in ``repr`` or ``str``-formatting of configs."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')" if self else "Secret('')"


class KafkaConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Kafka connection. No ``bootstrap`` → ``stellwerk run`` starts the embedded broker.

    Security settings are passed through to aiokafka unchanged.
    """

    bootstrap: str = ""
    client_id: str = "stellwerk"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str = ""
    sasl_password: str = ""
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""

    def __repr__(self) -> str:
        shown = msgspec.structs.replace(self, sasl_password=Secret(self.sasl_password))
        fields = ", ".join(f"{f}={getattr(shown, f)!r}" for f in self.__struct_fields__)
        return f"KafkaConfig({fields})"


class TopicsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Topic names (defaults from DESIGN.md) and how to create missing ones."""

    inbound: str = "s301.inbound"
    replies: str = "s301.replies"
    rejected: str = "s301.rejected"
    unroutable: str = "s301.unroutable"
    test: str = "s301.test"
    dlq: str = "stellwerk.dlq"
    routes: str = "stellwerk.routes"
    partitions: int = 3
    replication: int = 1


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The whole router configuration."""

    mode: Literal["uv", "gkv"] = "uv"
    group_id: str = "stellwerk"
    batch_max: int = 500
    poll_timeout_ms: int = 200
    output_format: Literal["json", "msgpack"] = "json"
    metrics_port: int = 0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    routes: dict[str, str] = {}
    responsibility: dict[str, str] = {}
    kafka: KafkaConfig = KafkaConfig()
    topics: TopicsConfig = TopicsConfig()

    def __post_init__(self) -> None:
        if self.batch_max < 1:
            raise ValueError("batch_max must be >= 1")
        if self.topics.partitions < 1:
            raise ValueError("topics.partitions must be >= 1")


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
# Variables of the runtime, not config keys.
_IGNORED = {"STELLWERK_CONFIG"}


def _env_value(raw: str, path: tuple[str, ...]) -> Any:
    field_type = _field_type(path)
    if field_type is int:
        return int(raw) if raw.lstrip("-").isdigit() else raw
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
        return msgspec.convert(data, Config)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc
