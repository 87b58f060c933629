"""Kafka security settings are passed through to aiokafka unchanged."""

from __future__ import annotations

import ssl

from router.config import load_config
from router.kafka import connection_kwargs


def test_plaintext_by_default() -> None:
    kw = connection_kwargs(load_config(None, env={}).kafka, "b:9092")
    assert kw == {"bootstrap_servers": "b:9092", "client_id": "stellwerk",
                  "security_protocol": "PLAINTEXT"}


def test_sasl_ssl_is_passed_through() -> None:
    cfg = load_config(None, env={
        "STELLWERK_KAFKA_BOOTSTRAP": "kafka:9093",
        "STELLWERK_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "STELLWERK_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "STELLWERK_KAFKA_SASL_USERNAME": "stellwerk",
        "STELLWERK_KAFKA_SASL_PASSWORD": "geheim",
    })
    kw = connection_kwargs(cfg.kafka)
    assert kw["bootstrap_servers"] == "kafka:9093"
    assert kw["security_protocol"] == "SASL_SSL"
    assert (kw["sasl_mechanism"], kw["sasl_plain_username"], kw["sasl_plain_password"]) == (
        "SCRAM-SHA-512", "stellwerk", "geheim")
    assert isinstance(kw["ssl_context"], ssl.SSLContext)
