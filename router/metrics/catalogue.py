"""Every metric Stellwerk exports: name, kind, labels, help — one source of truth.

The Prometheus observer builds its metrics from this table, the README's metric table and
the dashboard and alert tests are checked against it. Labels are bounded sets only:
family (``s301``, ``kim``), message type, verdict, error code, output kind, topic,
partition, Kafka operation and error class. Never a person's data, an IK of a person or
an Aktenzeichen.

>>> SPECS["stellwerk_messages_total"].labels
('family', 'type', 'verdict')
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["BUCKETS", "SPECS", "MetricSpec", "exported_names"]

Kind = Literal["counter", "gauge", "histogram", "info"]


class MetricSpec(msgspec.Struct, frozen=True):
    """One metric family. ``buckets`` for histograms (upper bounds, seconds or units)."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    group: str = "pipeline"  # README grouping: parsing, pipeline, kafka, kim, process


BUCKETS = {
    # per message: the fast path takes ~10 µs, the exact checker ~100 µs
    "parse": (2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.025, 0.1),
    "segments": (5, 10, 15, 20, 30, 40, 60, 80, 120, 200, 500),
    "batch": (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
    "kafka": (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    "e2e": (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
    "mail": (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 60),
}

_F, _T = ("family",), ("family", "type")

_ALL = (
    # ---- parsing core ---------------------------------------------------------------
    MetricSpec("stellwerk_parse_decode_seconds", "histogram",
               "Tokenizing time per message (an interchange's share), by family and type",
               _T, BUCKETS["parse"], "parsing"),
    MetricSpec("stellwerk_parse_validate_seconds", "histogram",
               "Validation time per message (Prüfstufen 1-3), by family and type",
               _T, BUCKETS["parse"], "parsing"),
    MetricSpec("stellwerk_parse_bytes_total", "counter", "Input bytes parsed", _F,
               group="parsing"),
    MetricSpec("stellwerk_parse_segments", "histogram", "Segments per §301 message",
               ("type",), BUCKETS["segments"], "parsing"),
    MetricSpec("stellwerk_parse_path_total", "counter",
               "Messages by validation path: fast (one compiled match) or exact (checker)",
               ("family", "path"), group="parsing"),
    MetricSpec("stellwerk_messages_total", "counter",
               "Messages by family, type and verdict", ("family", "type", "verdict"),
               group="parsing"),
    MetricSpec("stellwerk_validation_errors_total", "counter",
               "Findings by error code (§301 codes, KIM reasons)", ("family", "code"),
               group="parsing"),
    # ---- pipeline -----------------------------------------------------------------------
    MetricSpec("stellwerk_records_in_total", "counter",
               "Input records processed and committed, by input topic", ("family", "topic")),
    MetricSpec("stellwerk_records_out_total", "counter",
               "Output records acknowledged, by topic and terminal kind (routed, rejected, "
               "unroutable, test, reply, dlq, quarantine, notice, unmatched, released, "
               "tombstone)", ("family", "topic", "kind")),
    MetricSpec("stellwerk_batch_records", "histogram", "Input records per batch", _F,
               BUCKETS["batch"]),
    MetricSpec("stellwerk_batch_seconds", "histogram",
               "Time to process, produce and commit one batch", _F, BUCKETS["kafka"]),
    MetricSpec("stellwerk_end_to_end_seconds", "histogram",
               "Input record timestamp to its outputs acknowledged, per input record", _F,
               BUCKETS["e2e"]),
    MetricSpec("stellwerk_produce_seconds", "histogram",
               "Producing a batch's outputs until every acknowledgement", _F,
               BUCKETS["kafka"], "kafka"),
    MetricSpec("stellwerk_commit_seconds", "histogram", "Committing a batch's offsets", _F,
               BUCKETS["kafka"], "kafka"),
    MetricSpec("stellwerk_last_commit_timestamp_seconds", "gauge",
               "Unix time of the last successful offset commit", _F, group="kafka"),
    MetricSpec("stellwerk_consumer_lag", "gauge",
               "Records behind the partition's end (fetch high watermark - position); "
               "series of revoked partitions are removed", ("family", "topic", "partition"),
               group="kafka"),
    MetricSpec("stellwerk_assigned_partitions", "gauge", "Partitions assigned", _F,
               group="kafka"),
    MetricSpec("stellwerk_rebalances_total", "counter",
               "Partition assignments received (each rebalance)", _F, group="kafka"),
    MetricSpec("stellwerk_kafka_retries_total", "counter",
               "Retried Kafka operations by operation and error class",
               ("operation", "error"), group="kafka"),
    MetricSpec("stellwerk_broker_up", "gauge",
               "1 while the last Kafka operation of the client succeeded", ("client",),
               group="kafka"),
    MetricSpec("stellwerk_claim_check_bytes_total", "counter",
               "Bytes written to the blob store (claim checks of large payloads)"),
    MetricSpec("stellwerk_claim_checks_total", "counter", "Blobs written to the blob store"),
    MetricSpec("stellwerk_table_entries", "gauge",
               "Entries of the live tables (routes, cases, held)", ("table",)),
    # ---- KIM --------------------------------------------------------------------------
    MetricSpec("stellwerk_kim_analysis_seconds", "histogram",
               "Analysis of one mail in a worker (MIME, Muster 86: pdf-text, barcode, OCR), "
               "by where the Aktenzeichen came from (none: not read)", ("source",),
               BUCKETS["mail"], "kim"),
    MetricSpec("stellwerk_kim_pool_queue", "gauge",
               "Mails handed to the worker pool and not finished yet", group="kim"),
    MetricSpec("stellwerk_kim_pool_workers", "gauge", "Worker processes of the pool",
               group="kim"),
    MetricSpec("stellwerk_kim_pool_busy_seconds_total", "counter",
               "Worker time spent analysing mails (rate / workers = utilisation)",
               group="kim"),
    # ---- process ----------------------------------------------------------------------
    MetricSpec("stellwerk_ready", "gauge",
               "1 when partitions are assigned, tables loaded and the broker reachable",
               group="process"),
    MetricSpec("stellwerk_build", "info",
               "Version of Stellwerk and its runtime; codec: compiled core or pure Python",
               ("version", "python", "families", "codec"), group="process"),
    # ---- broker side (stellwerk lag-exporter) -----------------------------------------
    MetricSpec("stellwerk_group_lag", "gauge",
               "Records behind the end, from the group's committed offset (broker side)",
               ("group", "topic", "partition"), group="lag"),
    MetricSpec("stellwerk_group_committed_offset", "gauge",
               "Committed offset of the consumer group", ("group", "topic", "partition"),
               group="lag"),
    MetricSpec("stellwerk_group_end_offset", "gauge", "End offset of the partition",
               ("group", "topic", "partition"), group="lag"),
    MetricSpec("stellwerk_group_probe_up", "gauge",
               "1 while the lag exporter could read offsets from the broker", group="lag"),
)

SPECS: dict[str, MetricSpec] = {s.name: s for s in _ALL}


def exported_names() -> set[str]:
    """Every sample name a scrape can show (histograms: _bucket/_sum/_count)."""
    out: set[str] = set()
    for s in _ALL:
        if s.kind == "histogram":
            out |= {f"{s.name}_bucket", f"{s.name}_sum", f"{s.name}_count"}
        elif s.kind == "info":
            out.add(f"{s.name}_info")
        else:
            out.add(s.name)
    return out
