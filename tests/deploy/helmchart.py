"""Rendering the Helm chart offline (Helm SDK from PyPI: ``helm-python-sdk``, Helm v4 as a
shared library, no ``helm`` binary) and validating manifests offline: Kubernetes 1.30
schemas from ``kubernetes-validate``, vendored CRD schemas (``schemas/``) for KEDA,
the Prometheus operator and Strimzi."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "stellwerk"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
KUBERNETES = "1.30"
RELEASE, NAMESPACE = "stellwerk", "datenannahme"

#: The value files the tests render: the defaults, production, the HPA fallback.
VALUE_FILES = {
    "default": None,
    "production": CHART / "ci" / "production-values.yaml",
    "hpa": CHART / "ci" / "hpa-values.yaml",
}

#: Custom resources → vendored schema (see schemas/SOURCES.md).
CRDS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject_v1alpha1.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "triggerauthentication_v1alpha1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor_v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule_v1.json",
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): "kafkatopic_v1beta2.json",
}


def values_of(name: str) -> dict[str, Any]:
    path = VALUE_FILES[name]
    return {} if path is None else yaml.safe_load(path.read_text(encoding="utf-8"))


def render(values: dict[str, Any] | None = None) -> dict[str, str]:
    """Template path → rendered text (raises ``helm_python.HelmError`` on a ``fail`` or a
    schema violation)."""
    with helm.Chart.load(CHART) as chart:
        return chart.render(values or {}, name=RELEASE, namespace=NAMESPACE)


@functools.cache
def _manifests_json(name: str) -> str:
    docs = []
    for path, text in sorted(render(values_of(name)).items()):
        if path.endswith(".txt"):
            continue
        docs.extend({"_template": path, **d} for d in yaml.safe_load_all(text) if d)
    return json.dumps(docs)


def manifests(name: str) -> list[dict[str, Any]]:
    """The rendered objects of one value file (a fresh copy each call), each with the
    template it came from under ``_template``."""
    return list(json.loads(_manifests_json(name)))


def strip(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_template"}


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind
             and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind} {name}: {len(found)} objects"
    return found[0]


@functools.cache
def _crd_schema(filename: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / filename).read_text(encoding="utf-8"))
    return schema


def validate(doc: dict[str, Any]) -> str:
    """Validate one object offline; returns what it was validated against. Raises on
    an invalid object and on a kind no schema is known for."""
    doc = strip(doc)
    crd = CRDS.get((doc["apiVersion"], doc["kind"]))
    if crd is not None:
        jsonschema.Draft7Validator(_crd_schema(crd)).validate(doc)
        return crd
    return "kubernetes " + kubernetes_validate.validate(doc, KUBERNETES, strict=True)
