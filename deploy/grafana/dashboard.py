"""Generate the Stellwerk Grafana dashboard (``stellwerk.json`` beside this file).

Dashboards as code with the Grafana Foundation SDK; every metric comes from
``router.metrics.catalogue`` (``tests/deploy/test_dashboard.py`` checks the queries
against it). Run from the repository root::

    .venv/bin/python deploy/grafana/dashboard.py            # writes deploy/grafana/stellwerk.json
    .venv/bin/python deploy/grafana/dashboard.py --check    # exit 1 if the file is stale

The output is deterministic: sorted keys, panel ids numbered in layout order, explicit
grid positions. Selectors get ``family=~"$family"`` where the catalogue gives the metric a
family label, ``instance=~"$instance"`` on router metrics and ``group=~"$group"`` on the
lag exporter's; queries never name a scrape job.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from router.metrics.catalogue import SPECS, MetricSpec

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "stellwerk.json"

UID = "stellwerk-router"
TITLE = "Stellwerk"
GRID_WIDTH = 24
RATE = "[$__rate_interval]"
DS = model.DataSourceRef(type_val="prometheus", uid="${datasource}")

# ---- PromQL helpers ------------------------------------------------------------------

_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "info": ("_info",)}


def spec_of(sample: str) -> MetricSpec:
    """The catalogue entry behind a sample name (``x_bucket`` → ``x``, ``x_info`` → ``x``)."""
    if sample in SPECS and SPECS[sample].kind not in _SUFFIXES:
        return SPECS[sample]
    for spec in SPECS.values():
        if any(sample == spec.name + s for s in _SUFFIXES.get(spec.kind, ())):
            return spec
    raise KeyError(f"{sample} is not in router.metrics.catalogue")


def sel(sample: str, *matchers: str) -> str:
    """``sample{...}`` with the dashboard's variable filters that apply to it."""
    spec = spec_of(sample)
    parts: list[str] = []
    if "family" in spec.labels:
        parts.append('family=~"$family"')
    if "group" in spec.labels:
        parts.append('group=~"$group"')
    if spec.group != "lag":  # lag exporter series carry the exporter's instance
        parts.append('instance=~"$instance"')
    parts.extend(matchers)
    return f"{sample}{{{', '.join(parts)}}}" if parts else sample


def rate(sample: str, *matchers: str) -> str:
    return f"rate({sel(sample, *matchers)}{RATE})"


def by(labels: Sequence[str]) -> str:
    return f"by ({', '.join(labels)})"


def sum_rate(sample: str, labels: Sequence[str], *matchers: str) -> str:
    return f"sum {by(labels)} ({rate(sample, *matchers)})" if labels else (
        f"sum({rate(sample, *matchers)})")


def quantile(q: float, histogram: str, labels: Sequence[str]) -> str:
    """``histogram_quantile`` over a catalogue histogram, aggregated by ``labels``."""
    return (f"histogram_quantile({q}, sum {by([*labels, 'le'])} "
            f"({rate(histogram + '_bucket')}))")


def mean(histogram: str, labels: Sequence[str]) -> str:
    return (f"{sum_rate(histogram + '_sum', labels)} / "
            f"{sum_rate(histogram + '_count', labels)}")


def legend(labels: Sequence[str], prefix: str = "") -> str:
    text = " ".join("{{" + label + "}}" for label in labels)
    return f"{prefix} {text}".strip() if prefix else text


def percentiles(histogram: str, labels: Sequence[str],
                qs: Sequence[float] = (0.5, 0.95, 0.99)) -> list[Target]:
    return [Target(quantile(q, histogram, labels), legend(labels, f"p{round(q * 100)}"))
            for q in qs]


# ---- panels ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False


@dataclass
class Cell:
    """A panel builder with its size; the layout gives it an id and a position."""

    panel: Any  # a panel builder of the SDK (timeseries, stat, table)
    w: int
    h: int


@dataclass
class Section:
    title: str
    cells: list[Cell] = field(default_factory=list)
    collapsed: bool = False


def _query(target: Target, ref: str) -> prometheus.Dataquery:
    q = (prometheus.Dataquery().expr(target.expr).ref_id(ref).datasource(DS)
         .legend_format(target.legend or "__auto"))
    q = q.instant() if target.instant else q.range()
    if target.table:
        q = q.format(PromQueryFormat.TABLE)
    return q


def _with_targets(panel: Any, targets: Sequence[Target]) -> Any:
    for i, target in enumerate(targets):
        panel = panel.with_target(_query(target, chr(ord("A") + i)))
    return panel


def _thresholds(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    return (dash.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE)
            .steps([model.Threshold(value=v, color=c) for v, c in steps]))


def series(title: str, description: str, targets: Sequence[Target], unit: str = "short",
           *, w: int = 12, h: int = 8, stacked: bool = False, fill: float = 10,
           minimum: float | None = 0, maximum: float | None = None) -> Cell:
    panel = (timeseries.Panel().title(title).description(description).datasource(DS)
             .unit(unit).fill_opacity(fill).line_width(1).show_points(
                 common.VisibilityMode.NEVER)
             .legend(common_b.VizLegendOptions().display_mode(common.LegendDisplayMode.TABLE)
                     .placement(common.LegendPlacement.BOTTOM).show_legend(True)
                     .calcs(["mean", "max", "lastNotNull"]))
             .tooltip(common_b.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI)
                      .sort(common.SortOrder.DESCENDING)))
    if minimum is not None:
        panel = panel.min(minimum)
    if maximum is not None:
        panel = panel.max(maximum)
    if stacked:
        panel = panel.stacking(common_b.StackingConfig().mode(common.StackingMode.NORMAL))
    return Cell(_with_targets(panel, targets), w, h)


def single(title: str, description: str, target: Target, unit: str = "short",
           *, steps: Sequence[tuple[float | None, str]] = ((None, "green"),),
           w: int = 3, h: int = 4, area: bool = False) -> Cell:
    panel = (stat.Panel().title(title).description(description).datasource(DS).unit(unit)
             .thresholds(_thresholds(*steps)).color_mode(common.BigValueColorMode.VALUE)
             .graph_mode(common.BigValueGraphMode.AREA if area else common.BigValueGraphMode.NONE)
             .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"])
                             .values(False)))
    return Cell(_with_targets(panel, [target]), w, h)


def tabular(title: str, description: str, target: Target, *, w: int = 12,
            h: int = 8) -> Cell:
    panel = (table.Panel().title(title).description(description).datasource(DS)
             .show_header(True).cell_height(common.TableCellHeight.SM)
             .sort_by([common_b.TableSortByFieldState().display_name("Value").desc(True)])
             .with_transformation(model.DataTransformerConfig(
                 id_val="organize", options={"excludeByName": {"Time": True}})))
    instant = Target(target.expr, target.legend, instant=True, table=True)
    return Cell(_with_targets(panel, [instant]), w, h)


# ---- the rows -------------------------------------------------------------------------

EXCEPTION_KINDS = "dlq|quarantine|unmatched|unroutable"
DLQ = 'kind="dlq"'
HELD = 'table="held"'
REJECTED = 'verdict="rejected"'
RED_ABOVE_ZERO = ((None, "green"), (1, "red"))


def overview() -> Section:
    return Section("Overview", [
        single("Routers not ready", "Router instances whose /readyz is failing "
               "(no partitions, tables not loaded or broker unreachable).",
               Target(f"count({sel('stellwerk_ready')} == 0) or vector(0)"),
               steps=RED_ABOVE_ZERO),
        single("Kafka clients down", "Kafka clients whose last operation failed "
               "(stellwerk_broker_up == 0).",
               Target(f"count({sel('stellwerk_broker_up')} == 0) or vector(0)"),
               steps=RED_ABOVE_ZERO),
        single("Input rate", "Input records processed and committed per second, all "
               "families in the selection.",
               Target(sum_rate("stellwerk_records_in_total", ())),
               "suffix: rec/s", area=True),
        single("Consumer lag", "Records behind the partition ends, summed (router side).",
               Target(f"sum({sel('stellwerk_consumer_lag')})"),
               steps=((None, "green"), (1000, "yellow"), (10000, "red")), area=True),
        single("Oldest commit", "Seconds since the least recent offset commit of any "
               "router and family. Grows while a router is stuck or idle.",
               Target(f"max(time() - {sel('stellwerk_last_commit_timestamp_seconds')})"),
               "s", steps=((None, "green"), (60, "yellow"), (300, "red"))),
        single("End-to-end p99", "99th percentile of input record timestamp to all its "
               "outputs acknowledged.",
               Target(quantile(0.99, "stellwerk_end_to_end_seconds", ())), "s",
               steps=((None, "green"), (5, "yellow"), (60, "red")), area=True),
        single("Dead letters (range)", "Records written to the DLQ in the selected time "
               "range. Any is worth a look.",
               Target(f"sum(increase({sel('stellwerk_records_out_total', DLQ)}"
                      "[$__range])) or vector(0)"),
               steps=RED_ABOVE_ZERO),
        single("Held mails", "KIM mails held in kim.unmatched, waiting for their case "
               "(live table 'held').",
               Target(f"max({sel('stellwerk_table_entries', HELD)})"),
               steps=((None, "green"), (50, "yellow"), (500, "red")), area=True),
    ])


def throughput() -> Section:
    return Section("Throughput", [
        series("Records in per family", "Input records processed and committed per "
               "second.", [Target(sum_rate("stellwerk_records_in_total", ["family"]),
                                  "{{family}}")], "suffix: rec/s"),
        series("Records in per input topic", "Input records per second by input topic.",
               [Target(sum_rate("stellwerk_records_in_total", ["topic"]), "{{topic}}")],
               "suffix: rec/s"),
        series("Outputs per kind", "Output records acknowledged per second by terminal "
               "kind (routed, rejected, unroutable, test, reply, dlq, quarantine, notice, "
               "unmatched, released, tombstone).",
               [Target(sum_rate("stellwerk_records_out_total", ["kind"]), "{{kind}}")],
               "suffix: rec/s", stacked=True, fill=30),
        series("Outputs per topic", "Output records acknowledged per second by output "
               "topic.",
               [Target(sum_rate("stellwerk_records_out_total", ["topic"]), "{{topic}}")],
               "suffix: rec/s", stacked=True, fill=30),
    ])


def verdicts() -> Section:
    return Section("Verdicts and rejections", [
        series("Messages by type and verdict", "Messages per second by family, message "
               "type (§301: AUFN, ENTL, RECH, KOUB …; KIM: kim) and verdict.",
               [Target(sum_rate("stellwerk_messages_total", ["family", "type", "verdict"]),
                       "{{family}} {{type}} {{verdict}}")], "suffix: msg/s"),
        series("Rejected share per family", "Share of messages with verdict 'rejected'.",
               [Target(f"{sum_rate('stellwerk_messages_total', ['family'], REJECTED)}"
                       f" / {sum_rate('stellwerk_messages_total', ['family'])}",
                       "{{family}}")], "percentunit", maximum=1),
        series("Findings by error code", "Validation findings per second by code "
               "(§301 error codes such as 1SW18 or 34U05, KIM reasons such as KIM01).",
               [Target(sum_rate("stellwerk_validation_errors_total", ["family", "code"]),
                       "{{family}} {{code}}")], "suffix: /s", stacked=True, fill=30),
        tabular("Top error codes in range", "The ten most frequent findings in the "
                "selected time range.",
                Target("topk(10, sum by (family, code) "
                       f"(increase({sel('stellwerk_validation_errors_total')}[$__range])))")),
    ])


def exceptions() -> Section:
    return Section("Dead letters, quarantine, unmatched, held", [
        series("Exception outputs per kind", "Records per second going to the DLQ, to "
               "quarantine, to kim.unmatched or unroutable.",
               [Target(sum_rate("stellwerk_records_out_total", ["kind"],
                                f'kind=~"{EXCEPTION_KINDS}"'), "{{kind}}")],
               "suffix: rec/s"),
        series("Exception outputs per topic", "The same records by output topic.",
               [Target(sum_rate("stellwerk_records_out_total", ["topic", "kind"],
                                f'kind=~"{EXCEPTION_KINDS}"'), "{{topic}} ({{kind}})")],
               "suffix: rec/s"),
        series("Held mails", "KIM mails held until their case appears in mima.cases "
               "(live table 'held', largest value of any router).",
               [Target(f"max({sel('stellwerk_table_entries', HELD)})",
                       "held")], w=8),
        series("Released and tombstoned", "Held mails released to their case topic and "
               "the tombstones that clear them from kim.unmatched.",
               [Target(sum_rate("stellwerk_records_out_total", ["kind"],
                                'kind=~"released|tombstone"'), "{{kind}}")],
               "suffix: rec/s", w=8),
        series("Test, replies, notices", "Test messages, §301 replies and KIM notices "
               "per second.",
               [Target(sum_rate("stellwerk_records_out_total", ["kind"],
                                'kind=~"test|reply|notice"'), "{{kind}}")],
               "suffix: rec/s", w=8),
    ])


def lag_latency() -> Section:
    return Section("Lag and latency", [
        series("Consumer lag per partition (router)", "Records behind the partition's end "
               "as each router sees it (high watermark - position). Series of revoked "
               "partitions disappear.",
               [Target(f"sum by (topic, partition) ({sel('stellwerk_consumer_lag')})",
                       "{{topic}}/{{partition}}")]),
        series("Group lag per partition (broker)", "Records behind the end from the "
               "group's committed offset, read from the broker by `stellwerk "
               "lag-exporter` — also visible while no router runs.",
               [Target(f"sum by (group, topic, partition) ({sel('stellwerk_group_lag')})",
                       "{{group}} {{topic}}/{{partition}}")]),
        series("End-to-end latency per family", "Input record timestamp to all its "
               "outputs acknowledged: p50, p95, p99.",
               percentiles("stellwerk_end_to_end_seconds", ["family"]), "s"),
        series("Last commit age per family", "Seconds since the last successful offset "
               "commit (most recent of any router).",
               [Target(f"time() - max by (family) "
                       f"({sel('stellwerk_last_commit_timestamp_seconds')})",
                       "{{family}}")], "s"),
        series("Group progress (broker)", "Committed offsets and partition ends per "
               "second per group and topic: consumption against production.",
               [Target(f"sum by (group, topic) "
                       f"(deriv({sel('stellwerk_group_committed_offset')}{RATE}))",
                       "committed {{group}} {{topic}}"),
                Target(f"sum by (group, topic) "
                       f"(deriv({sel('stellwerk_group_end_offset')}{RATE}))",
                       "end {{group}} {{topic}}")], "suffix: rec/s"),
        series("Lag exporter probe", "1 while the lag exporter can read offsets from the "
               "broker.",
               [Target(f"min by (instance) ({sel('stellwerk_group_probe_up')})",
                       "{{instance}}")], maximum=1),
    ])


def parsing() -> Section:
    return Section("Parsing", [
        series("Decode time per message type", "Tokenizing time per message, p50 and p99 "
               "by message type.",
               percentiles("stellwerk_parse_decode_seconds", ["type"], (0.5, 0.99)), "s"),
        series("Validation time per message type", "Prüfstufen 1-3 per message, p50 and "
               "p99 by message type.",
               percentiles("stellwerk_parse_validate_seconds", ["type"], (0.5, 0.99)), "s"),
        series("Fast vs exact path", "Share of messages validated by the compiled fast "
               "path and by the exact checker.",
               [Target(f"{sum_rate('stellwerk_parse_path_total', ['family', 'path'])}"
                       f" / ignoring (path) group_left "
                       f"{sum_rate('stellwerk_parse_path_total', ['family'])}",
                       "{{family}} {{path}}")],
               "percentunit", w=8, stacked=True, fill=30, maximum=1),
        series("Bytes parsed", "Input bytes parsed per second.",
               [Target(sum_rate("stellwerk_parse_bytes_total", ["family"]), "{{family}}")],
               "Bps", w=8),
        series("Segments per §301 message", "p50 and p99 of the segment count by "
               "message type.",
               percentiles("stellwerk_parse_segments", ["type"], (0.5, 0.99)), w=8),
    ], collapsed=True)


def kafka() -> Section:
    return Section("Kafka and process", [
        series("Produce latency", "Producing a batch's outputs until every "
               "acknowledgement: p50 and p99.",
               percentiles("stellwerk_produce_seconds", ["family"], (0.5, 0.99)), "s",
               w=8),
        series("Commit latency", "Committing a batch's offsets: p50 and p99.",
               percentiles("stellwerk_commit_seconds", ["family"], (0.5, 0.99)), "s", w=8),
        series("Batch duration", "Process, produce and commit one batch: p50 and p99.",
               percentiles("stellwerk_batch_seconds", ["family"], (0.5, 0.99)), "s", w=8),
        series("Batch size", "Input records per batch: mean and p99.",
               [Target(mean("stellwerk_batch_records", ["family"]), "mean {{family}}"),
                *percentiles("stellwerk_batch_records", ["family"], (0.99,))], w=8),
        series("Kafka retries", "Retried Kafka operations per second by operation and "
               "error class.",
               [Target(sum_rate("stellwerk_kafka_retries_total", ["operation", "error"]),
                       "{{operation}} {{error}}")], "suffix: /s", w=8),
        series("Rebalances", "Partition assignments received per interval.",
               [Target(f"sum by (family) (increase("
                       f"{sel('stellwerk_rebalances_total')}{RATE}))", "{{family}}")],
               w=8, fill=0),
        series("Assigned partitions", "Partitions assigned per router and family.",
               [Target(f"sum by (instance, family) "
                       f"({sel('stellwerk_assigned_partitions')})",
                       "{{instance}} {{family}}")], w=8),
        series("Broker up", "1 while the client's last Kafka operation succeeded.",
               [Target(f"min by (instance, client) ({sel('stellwerk_broker_up')})",
                       "{{instance}} {{client}}")], w=8, maximum=1),
        series("Ready", "1 when partitions are assigned, tables loaded and the broker "
               "reachable.",
               [Target(f"max by (instance) ({sel('stellwerk_ready')})", "{{instance}}")],
               w=8, maximum=1),
        tabular("Versions", "Stellwerk version, Python, families and codec (compiled core "
                "or pure Python) per router.",
                Target("count by (instance, version, python, families, codec) "
                       f"({sel('stellwerk_build_info')})"), w=24, h=6),
    ], collapsed=True)


def kim() -> Section:
    return Section("KIM", [
        series("Analysis time by source", "Analysis of one mail in a worker (MIME, "
               "Muster 86: pdf-text, barcode, OCR) by where the Aktenzeichen came from "
               "(none: not read): p50, p95, p99.",
               percentiles("stellwerk_kim_analysis_seconds", ["source"]), "s"),
        series("Analyses by source", "Mails analysed per second by source of the "
               "Aktenzeichen.",
               [Target(sum_rate("stellwerk_kim_analysis_seconds_count", ["source"]),
                       "{{source}}")], "suffix: mails/s", stacked=True, fill=30),
        series("Pool queue and workers", "Mails handed to the worker pool and not "
               "finished yet, and the pool's worker processes.",
               [Target(f"sum by (instance) ({sel('stellwerk_kim_pool_queue')})",
                       "queue {{instance}}"),
                Target(f"sum by (instance) ({sel('stellwerk_kim_pool_workers')})",
                       "workers {{instance}}")], w=6),
        series("Pool utilisation", "Worker time spent analysing mails per worker: "
               "rate(busy seconds) / workers.",
               [Target(f"{sum_rate('stellwerk_kim_pool_busy_seconds_total', ['instance'])}"
                       f" / sum by (instance) ({sel('stellwerk_kim_pool_workers')})",
                       "{{instance}}")], "percentunit", w=6, maximum=1),
        series("Claim checks", "Bytes written to the blob store for large payloads "
               "(claim checks).",
               [Target(sum_rate("stellwerk_claim_check_bytes_total", ()), "bytes")],
               "Bps", w=6),
        series("Claim checks written", "Blobs written to the blob store per second.",
               [Target(sum_rate("stellwerk_claim_checks_total", ()), "blobs")],
               "suffix: /s", w=6),
        series("Live table sizes", "Entries of the live tables (routes, cases, held), "
               "largest value of any router.",
               [Target(f"max by (table) ({sel('stellwerk_table_entries')})", "{{table}}")],
               w=24),
    ], collapsed=True)


SECTIONS = (overview, throughput, verdicts, exceptions, lag_latency, parsing, kafka, kim)

# ---- variables and assembly -----------------------------------------------------------


def _query_variable(name: str, label: str, query: str, description: str) -> Builder[Any]:
    return (dash.QueryVariable(name).label(label).description(description).datasource(DS)
            .query(query).refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(model.VariableSort.ALPHABETICAL_ASC).multi(True).include_all(True)
            .all_value(".*")
            .current(model.VariableOption(selected=True, text="All", value="$__all")))


def variables() -> list[Builder[Any]]:
    return [
        dash.DatasourceVariable("datasource").label("Data source").type("prometheus"),
        _query_variable("family", "Family", "label_values(stellwerk_records_in_total, family)",
                        "Payload family: s301 (§301 EDIFACT) or kim (KIM mails)."),
        _query_variable("instance", "Router", "label_values(stellwerk_build_info, instance)",
                        "Router instances (scrape targets exporting stellwerk_build_info)."),
        _query_variable("group", "Consumer group", "label_values(stellwerk_group_lag, group)",
                        "Consumer groups watched by stellwerk lag-exporter."),
    ]


def annotations() -> list[Builder[model.AnnotationQuery]]:
    """Rebalances as markers on every time series (Grafana adds its built-in one)."""
    changes = f"changes({sel('stellwerk_rebalances_total')}[2m])"
    return [dash.AnnotationQuery().name("Rebalances").datasource(DS).enable(True)
            .hide(False).icon_color("orange")
            .expr(f"sum by (family, instance) ({changes}) > 0")]


def _layout(sections: Sequence[Section]) -> Builder[model.Dashboard]:
    """Rows and panels with ids in layout order and explicit grid positions.

    Open rows are followed by their panels at the top level; collapsed rows carry their
    panels (Grafana's model of rows).
    """
    board = (dash.Dashboard(TITLE).uid(UID)
             .description("Stellwerk router: throughput, verdicts, exceptions, lag, "
                          "latency, parsing, Kafka and KIM. Generated by "
                          "deploy/grafana/dashboard.py, do not edit by hand.")
             .tags(["stellwerk", "kafka", "sgb301", "kim"]).editable().timezone("browser")
             .tooltip(model.DashboardCursorSync.CROSSHAIR).time("now-6h", "now")
             .refresh("30s").variables(variables()).annotations(annotations()))
    next_id, y = 1, 0
    for section in sections:
        row_y = y
        row = dash.Row(section.title).id(next_id).grid_pos(
            model.GridPos(h=1, w=GRID_WIDTH, y=row_y))
        next_id += 1
        y += 1
        x, row_h = 0, 0
        placed = []
        for cell in section.cells:
            if x + cell.w > GRID_WIDTH:
                x, y, row_h = 0, y + row_h, 0
            placed.append(cell.panel.id(next_id)
                          .grid_pos(model.GridPos(h=cell.h, w=cell.w, x=x, y=y)))
            next_id += 1
            x += cell.w
            row_h = max(row_h, cell.h)
        y += row_h
        if section.collapsed:
            for panel in placed:
                row = row.with_panel(panel)
            board = board.with_row(row.collapsed(True))
            y = row_y + 1  # a collapsed row takes one grid unit
        else:
            board = board.with_row(row.collapsed(False))
            for panel in placed:
                board = board.with_panel(panel)
    return board


def build() -> dict[str, Any]:
    """The dashboard as a JSON-ready dict."""
    board = _layout([make() for make in SECTIONS]).build()
    encoded: dict[str, Any] = json.loads(json.dumps(board, cls=JSONEncoder))
    return encoded


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="default: %(default)s")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the output file differs")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run deploy/grafana/dashboard.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
