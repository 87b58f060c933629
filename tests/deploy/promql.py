"""A small PromQL scanner for the deploy tests: which metrics and labels an expression
uses, and what is left that is neither a PromQL function nor a keyword."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from router.metrics.catalogue import SPECS, MetricSpec, exported_names

AGGREGATIONS = frozenset({
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
})
FUNCTIONS = frozenset({
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
    "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
    "count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
    "delta", "deriv", "double_exponential_smoothing", "exp", "floor", "histogram_avg",
    "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev",
    "histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta", "increase",
    "info", "irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2",
    "mad_over_time", "max_over_time", "min_over_time", "minute", "month", "pi",
    "predict_linear", "present_over_time", "quantile_over_time", "rad", "rate", "resets",
    "round", "scalar", "sgn", "sin", "sinh", "sort", "sort_by_label", "sort_by_label_desc",
    "sort_desc", "sqrt", "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan",
    "tanh", "time", "timestamp", "vector", "year",
})
KEYWORDS = frozenset({
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "and", "or", "unless", "atan2", "start", "end", "inf", "nan",
})
TARGET_LABELS = frozenset({"job", "instance"})  # added by the Prometheus scrape
GRAFANA_VARIABLES = frozenset({"__rate_interval", "__range", "__interval", "__range_s"})

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)?\s*\{([^{}]*)\}")
_MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)\s*""')
_RANGE = re.compile(r"\[[^\[\]]*\]")
_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_NUMBER = re.compile(
    r"(?<![\w.])(?:0x[0-9a-f]+|(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)"
    r"(?:ms|s|m|h|d|w|y)*(?![\w.])", re.IGNORECASE)
_IDENT = re.compile(r"[A-Za-z_:][\w:]*")


@dataclass
class Scan:
    """What one expression uses."""

    expr: str
    metrics: set[str] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)  # identifiers that are no metric here
    variables: set[str] = field(default_factory=set)
    # (metric, label) of each selector's matchers
    matchers: list[tuple[str, str]] = field(default_factory=list)
    # (clause, labels, metrics in the clause's scope)
    groupings: list[tuple[str, tuple[str, ...], frozenset[str]]] = field(default_factory=list)


def _balanced(text: str, start: int, step: int) -> tuple[int, int]:
    """The span of the parenthesised group whose bracket is at ``start``."""
    depth, i = 0, start
    while 0 <= i < len(text):
        if text[i] in "()":
            depth += 1 if (text[i] == "(") == (step > 0) else -1
            if depth == 0:
                return (start, i + 1) if step > 0 else (i, start + 1)
        i += step
    raise ValueError(f"unbalanced parentheses in {text!r}")


def _scope(text: str, match: re.Match[str]) -> str:
    """The aggregation argument a ``by``/``without`` clause applies to: the group right
    after it (``sum by (l) (x)``) or right before it (``sum (x) by (l)``); for binary
    matching clauses the whole expression."""
    if match.group(1) not in {"by", "without"}:
        return text
    after = match.end()
    while after < len(text) and text[after].isspace():
        after += 1
    if after < len(text) and text[after] == "(":
        lo, hi = _balanced(text, after, +1)
        return text[lo:hi]
    before = match.start() - 1
    while before >= 0 and text[before].isspace():
        before -= 1
    if before >= 0 and text[before] == ")":
        lo, hi = _balanced(text, before, -1)
        return text[lo:hi]
    raise ValueError(f"{match.group(0)!r} has no argument in {text!r}")


def _identifiers(text: str) -> set[str]:
    text = _GROUPING.sub(r" \1 ", text)  # label lists are no identifiers of the expression
    text = _NUMBER.sub(" ", text)
    return set(_IDENT.findall(text)) - AGGREGATIONS - FUNCTIONS - KEYWORDS


def scan(expr: str) -> Scan:
    """Metric names, selector labels, grouping labels and variables of a PromQL query."""
    out = Scan(expr)
    text = _STRING.sub('""', expr)  # label values and regexes cannot confuse the rest

    def selector(m: re.Match[str]) -> str:
        name = m.group(1) or "{}"  # a selector without a metric name is unknown
        out.matchers.extend((name, label) for label in _MATCHER.findall(m.group(2)))
        return f" {name} "

    text = _SELECTOR.sub(selector, text)
    for m in _VARIABLE.finditer(text):
        out.variables.add(m.group(1) or m.group(2))
    text = _RANGE.sub(" ", text)  # durations, subqueries, Grafana's $__rate_interval
    text = _VARIABLE.sub(" ", text)
    for m in _GROUPING.finditer(text):
        labels = tuple(x.strip() for x in m.group(2).split(",") if x.strip())
        out.groupings.append((m.group(1), labels, frozenset(_identifiers(_scope(text, m)))))
    names = _identifiers(text)
    known = exported_names()
    out.metrics = {n for n in names if n in known}
    out.unknown = (names - known) | ({"{}"} if "{}" in text else set())
    return out


_SAMPLE_SPECS: dict[str, tuple[MetricSpec, frozenset[str]]] = {}
for _spec in SPECS.values():
    _base = frozenset(_spec.labels) | TARGET_LABELS
    if _spec.kind == "histogram":
        _SAMPLE_SPECS[_spec.name + "_bucket"] = (_spec, _base | {"le"})
        _SAMPLE_SPECS[_spec.name + "_sum"] = (_spec, _base)
        _SAMPLE_SPECS[_spec.name + "_count"] = (_spec, _base)
    elif _spec.kind == "info":
        _SAMPLE_SPECS[_spec.name + "_info"] = (_spec, _base)
    else:
        _SAMPLE_SPECS[_spec.name] = (_spec, _base)


def labels_of(sample: str) -> frozenset[str]:
    return _SAMPLE_SPECS[sample][1]


def problems(expr: str, *, extra: dict[str, frozenset[str]] | None = None) -> list[str]:
    """What is wrong with ``expr`` against the catalogue: unknown identifiers, matchers
    and grouping labels a metric lacks. ``extra``: metrics from elsewhere (``up``) with
    their labels.

    >>> problems('sum by (kind) (rate(stellwerk_records_in_total[5m]))')
    ["by (kind) but ['stellwerk_records_in_total'] lack it"]
    """
    extra = extra or {}

    def labels(metric: str) -> frozenset[str]:
        return extra[metric] if metric in extra else labels_of(metric)

    s = scan(expr)
    out = [f"unknown identifiers {sorted(s.unknown - set(extra))}"] if s.unknown - set(
        extra) else []
    metrics_all = s.metrics | (s.unknown & set(extra))
    for metric, label in s.matchers:
        if metric in metrics_all and label not in labels(metric):
            out.append(f"{metric} has no label {label}")
    for clause, names, scope in s.groupings:
        metrics = scope & metrics_all
        if not metrics:
            out.append(f"{clause} ({', '.join(names)}) over no metric")
            continue
        for label in names:
            if clause in {"by", "without", "on"}:
                missing = sorted(m for m in metrics if label not in labels(m))
                if missing:
                    out.append(f"{clause} ({label}) but {missing} lack it")
            elif not any(label in labels(m) for m in metrics):
                out.append(f"{clause} ({label}) on no metric with that label")
    return out
