"""Config: TOML + STELLWERK_ environment, validated with the key named in the error."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from router.cli import main
from router.config import ConfigError, load_config, public


def test_defaults_follow_design() -> None:
    cfg = load_config(None, env={})
    assert cfg.mode == "uv"
    assert (cfg.topics.inbound, cfg.topics.replies, cfg.topics.dlq) == (
        "s301.inbound", "s301.replies", "stellwerk.dlq")


def test_toml_and_env_override(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('mode = "gkv"\n[topics]\ninbound = "in"\npartitions = 6\n[routes]\n'
                 '"260510984" = "kh.topic"\n')
    cfg = load_config(f, env={"STELLWERK_TOPICS_INBOUND": "in2", "STELLWERK_BATCH_MAX": "7"})
    assert (cfg.mode, cfg.topics.inbound, cfg.topics.partitions, cfg.batch_max) == (
        "gkv", "in2", 6, 7)
    assert cfg.routes == {"260510984": "kh.topic"}


@pytest.mark.parametrize(("env", "named"), [
    ({"STELLWERK_BATCH_MAX": "many"}, "batch_max"),
    ({"STELLWERK_NOT_A_KEY": "1"}, "STELLWERK_NOT_A_KEY"),
    ({"STELLWERK_MODE": "xyz"}, "mode"),
    ({"STELLWERK_ROUTES": "{not json"}, "STELLWERK_ROUTES"),
    ({"STELLWERK_KAFKA_SESSION_TIMEOUT_MS": "5000"}, "heartbeat_interval_ms"),
])
def test_bad_values_name_the_key(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config(None, env=env)


def test_the_codecs_own_variables_are_not_config_keys() -> None:
    """The image sets STELLWERK_NATIVE_DIR (the compiled core); STELLWERK_PURE switches it
    off: neither may stop the router from starting."""
    cfg = load_config(None, env={"STELLWERK_NATIVE_DIR": "/opt/stellwerk/native",
                                 "STELLWERK_PURE": "1", "STELLWERK_BATCH_MAX": "50"})
    assert cfg.batch_max == 50


def test_unknown_toml_key_names_it(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[kafka]\nbootstrapp = 'x'\n")
    with pytest.raises(ConfigError, match="bootstrapp"):
        load_config(f, env={})


def test_secret_is_masked() -> None:
    cfg = load_config(None, env={"STELLWERK_KAFKA_SASL_PASSWORD": "geheim"})
    assert "geheim" not in repr(cfg) and "geheim" not in str(cfg)
    assert cfg.kafka.sasl_password.reveal() == "geheim"


def test_secret_never_serialises_in_clear() -> None:
    cfg = load_config(None, env={"STELLWERK_KAFKA_SASL_PASSWORD": "geheim"})
    # The generic encoders refuse the secret rather than write it out ...
    for encode in (msgspec.to_builtins, msgspec.json.encode, msgspec.msgpack.encode):
        with pytest.raises(TypeError):
            encode(cfg)
    # ... and the one masking dump shows that it is set, not what it is.
    dumped = public(cfg)
    assert dumped["kafka"]["sasl_password"] == "***"
    assert b"geheim" not in msgspec.json.encode(dumped)


def test_cli_exits_2_on_bad_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STELLWERK_BATCH_MAX", "x")
    with pytest.raises(SystemExit) as exc:
        main(["run", "--bootstrap", "127.0.0.1:1"])
    assert exc.value.code == 2
    assert "batch_max" in capsys.readouterr().err
