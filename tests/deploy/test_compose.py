"""deploy/compose.yaml: valid against the Compose specification's JSON schema (vendored,
offline), Apache Kafka in KRaft mode, the topics created with their settings, two
routers in one group, the lag exporter, ingest pop3, Prometheus with the alert rules and
Grafana with the dashboard; commands valid for the stellwerk CLI, configs valid Stellwerk
configs. No Docker engine runs here: nothing is started."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from router.cli import build_parser
from router.config import load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
SCHEMA = Path(__file__).resolve().parent / "schemas" / "compose-spec.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
STELLWERK = ("router", "lag-exporter", "ingest-pop3")
_DEFAULT = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def _compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return doc


def _interpolate(value: str) -> str:
    """``${VAR:-default}`` → default (what Compose does with VAR unset)."""
    return _DEFAULT.sub(lambda m: m.group(2) or "", value)


def _bind_sources(service: dict[str, Any]) -> dict[str, Path]:
    """Container path → host file of each bind mount given as a relative path."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            out[target] = (COMPOSE.parent / source).resolve()
    return out


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(_compose())


def test_schema_validation_bites() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken = _compose()
    broken["services"]["router"]["deploy"]["replica"] = 2
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_services() -> None:
    services = _compose()["services"]
    assert set(services) == {"kafka", "kafka-init", "router", "lag-exporter", "ingest-pop3",
                             "prometheus", "grafana"}
    assert services["router"]["deploy"]["replicas"] == 2
    for name in STELLWERK:
        s = services[name]
        assert s["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert s["read_only"] is True
        assert "/tmp" in s["tmpfs"]
        assert s["cap_drop"] == ["ALL"]
        assert s["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
        # stop is bounded at 9 s after SIGTERM
        assert int(s["stop_grace_period"].removesuffix("s")) > 9
    for s in services.values():
        for port in s.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{port} published beyond localhost"


def test_kafka_is_apache_kafka_in_kraft_mode() -> None:
    services = _compose()["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    init = services["kafka-init"]
    assert init["image"] == kafka["image"]
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert _bind_sources(init)["/topics.sh"] == DEPLOY / "compose" / "topics.sh"


def test_topic_init_creates_compacted_tables_and_room_for_kim_mails(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    fake = tmp_path / "kafka-topics.sh"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    fake.chmod(0o755)
    init = _compose()["services"]["kafka-init"]["environment"]
    subprocess.run(["bash", str(DEPLOY / "compose" / "topics.sh")], check=True, timeout=30,
                   capture_output=True, env={**init, "KAFKA_TOPICS": str(fake),
                                             "PATH": "/usr/bin:/bin"})
    created = {}
    for line in calls.read_text().splitlines():
        args = line.split()
        if "--create" in args:
            assert "--if-not-exists" in args
            assert args[args.index("--bootstrap-server") + 1] == init["BOOTSTRAP"]
            configs = dict(a.split("=", 1) for i, a in enumerate(args)
                           if args[i - 1] == "--config")
            created[args[args.index("--topic") + 1]] = (
                int(args[args.index("--partitions") + 1]), configs)
    config = load_config(DEPLOY / "compose" / "stellwerk.toml", env={})
    inbound = {config.topics.inbound, config.topics.replay, config.kim.inbound}
    for name in inbound:
        assert created[name][0] == int(init["PARTITIONS"]) == config.topics.partitions
    for name in (config.topics.routes, config.kim.cases_topic, config.kim.unmatched):
        assert created[name][1]["cleanup.policy"] == "compact"
    every = {config.topics.replies, config.topics.rejected, config.topics.unroutable,
             config.topics.test, config.topics.dlq, config.kim.quarantine, config.kim.notices}
    assert every | inbound <= set(created)
    ingest = _compose()["services"]["ingest-pop3"]["environment"]
    assert int(ingest["STELLWERK_LIMITS_MAX_RECORD_BYTES"]) <= int(
        created[config.kim.inbound][1]["max.message.bytes"])
    assert int(ingest["STELLWERK_LIMITS_MAX_RECORD_BYTES"]) >= 16 * 1024 * 1024  # KIM mails


@pytest.mark.parametrize("name", STELLWERK)
def test_stellwerk_services_run_valid_commands_with_valid_configs(name: str) -> None:
    compose = _compose()
    service = compose["services"][name]
    args = [_interpolate(str(a)) for a in service["command"]]
    parsed = build_parser().parse_args(args)
    assert parsed.config == "/etc/stellwerk/stellwerk.toml"
    (mount,) = service["configs"]
    assert mount["target"] == parsed.config
    source = COMPOSE.parent / compose["configs"][mount["source"]]["file"]
    env = {k: str(v) for k, v in service.get("environment", {}).items()
           if k.startswith("STELLWERK_")}
    config = load_config(source, env=env)  # no unknown key, right types
    assert config.kafka.bootstrap == "kafka:9092"
    if name == "router":
        assert parsed.command == "run"
        assert config.limits.blob_dir == "/var/lib/stellwerk/blobs"
        assert f"blobs:{config.limits.blob_dir}" in service["volumes"]
        assert config.kafka.idempotence == "on"
    if name == "lag-exporter":
        assert parsed.metrics_port == int(service["environment"]["HEALTHCHECK_PORT"])
    if name == "ingest-pop3":
        assert (parsed.command, parsed.ingest_kind) == ("ingest", "pop3")
        assert parsed.password_file == "/run/secrets/pop3_password"
        assert "--password" not in args
        assert any(v.endswith(":" + str(Path(parsed.ledger).parent))
                   for v in service["volumes"])
        assert service["profiles"] == ["pop3"]


def test_prometheus_scrapes_the_jobs_the_alerts_use(tmp_path: Path) -> None:
    compose = _compose()
    prometheus = compose["services"]["prometheus"]
    binds = _bind_sources(prometheus)
    config = yaml.safe_load(binds["/etc/prometheus/prometheus.yml"].read_text())
    jobs = {c["job_name"] for c in config["scrape_configs"]}
    assert jobs == set(re.findall(r'job="([^"]+)"', ALERTS.read_text())) == {
        "stellwerk", "stellwerk-lag"}
    (rule_file,) = config["rule_files"]
    assert binds[rule_file] == ALERTS
    router = next(c for c in config["scrape_configs"] if c["job_name"] == "stellwerk")
    assert router["dns_sd_configs"][0]["names"] == ["router"]  # both replicas
    assert router["dns_sd_configs"][0]["port"] == 9108


def test_promtool_accepts_the_prometheus_config(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: the Debian package prometheus (make system-deps)"
    binds = _bind_sources(_compose()["services"]["prometheus"])
    text = binds["/etc/prometheus/prometheus.yml"].read_text()
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(
        text.replace("/etc/prometheus/stellwerk-alerts.yml", str(tmp_path / "alerts.yml")))
    done = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_grafana_is_provisioned_with_the_dashboard() -> None:
    grafana = _compose()["services"]["grafana"]
    binds = _bind_sources(grafana)
    dashboard = next(t for t, s in binds.items() if s.name == "stellwerk.json")
    assert binds[dashboard] == DEPLOY / "grafana" / "stellwerk.json"
    provisioning = binds["/etc/grafana/provisioning"]
    providers = yaml.safe_load((provisioning / "dashboards" / "stellwerk.yaml").read_text())
    assert providers["providers"][0]["options"]["path"] == str(Path(dashboard).parent)
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    assert source["url"] == "http://prometheus:9090"
