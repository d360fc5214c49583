"""The dashboard and the alert policies as the Monitoring API reads them (issue 19).

- The dashboard's JSON is rendered by terraform itself (`terraform console` on its
  `jsonencode(...)` expression, with the inputs tfeval computes) and parsed into the
  Dashboards API's own message, unknown fields refused. The API answers a dashboard in
  proto3 JSON, which leaves out zero, empty and default-enum values, and the provider
  compares that answer with the JSON as written (hashicorp/terraform-provider-google#16173,
  open): so the JSON must be exactly what the message prints back, or every plan shows a
  change.
- Every google_monitoring_alert_policy block (each instance of a for_each) is converted
  to the API's field names (the provider's snake_case arguments are the API's fields) and
  parsed into `google.cloud.monitoring_v3.types.AlertPolicy`, unknown fields refused.
- Every Monitoring filter of both is parsed with the Monitoring filter grammar
  (https://cloud.google.com/monitoring/api/v3/filters#filter_syntax), and Logging query
  syntax (https://cloud.google.com/logging/docs/view/logging-query-language) is named
  when it appears: a Logging filter in a Monitoring field is a 400 from the API.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from google.cloud.monitoring_dashboard_v1.types import Dashboard
from google.cloud.monitoring_v3.types import AlertPolicy
from google.protobuf import json_format

from tests.terraform.tfcheck import Config, is_block
from tests.terraform.tfeval import Evaluator

_META = {"__is_block__", "__comments__", "__inline_comments__", "__start_line__", "__end_line__"}
_TF_META = {"for_each", "count", "depends_on", "lifecycle", "provider"}
USER_METRIC = "logging.googleapis.com/user/"


# --- The Monitoring filter grammar ---------------------------------------------------------

# Logging query language that Monitoring refuses, with what to write instead.
LOGGING_ONLY = [
    (re.compile(r'=\s*\(\s*"'), 'a value list ("a" OR "b") is Logging\'s: one_of("a", "b")'),
    (re.compile(r"[=!]~"), "=~ / !~ are Logging's: monitoring.regex.full_match(...)"),
    (re.compile(r"\b(?:jsonPayload|textPayload|protoPayload)\b"), "a log entry's payload"),
    (re.compile(r"\b(?:severity|logName|timestamp|httpRequest)\b"), "a log entry's field"),
    (re.compile(r"(?<![\w.])labels\."), "a log entry's labels: metric.labels or resource.labels"),
]
_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<op>!=|<=|>=|=|<|>)|(?P<punct>[(),])'
    r"|(?P<number>-?\d+(?:\.\d+)?)(?![\w.])|(?P<word>[A-Za-z_][\w.]*)|(?P<other>\S))"
)
_SELECTOR = re.compile(
    r"project|group\.id|resource\.type|metric\.type"
    r"|(?:resource|metric)\.labels?\.\w+|metadata\.(?:system|user)_labels\.\w+"
)
_FUNCTIONS = {"one_of", "starts_with", "ends_with", "has_substring", "monitoring.regex.full_match"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    for m in _TOKEN.finditer(text):
        if m.lastgroup is None:
            continue
        kind, value = m.lastgroup, m.group(m.lastgroup)
        if kind == "word" and value in ("AND", "OR", "NOT"):
            kind = value
        out.append((kind, value))
    return out


class _Parser:
    """filter := term ((AND | OR)? term)*; term := NOT? ( "(" filter ")" | comparison );
    comparison := selector op (string | number | function "(" string ("," string)* ")")."""

    def __init__(self, text: str) -> None:
        self.toks, self.i, self.metric_types = _tokens(text), 0, 0

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i] if self.i < len(self.toks) else ("end", "")

    def take(self, kind: str, value: str | None = None) -> str:
        k, v = self.peek()
        if k != kind or (value is not None and v != value):
            raise ValueError(f"expected {value or kind}, found {v or 'the end'!r}")
        self.i += 1
        return v

    def parse(self) -> None:
        self.filter()
        if self.peek()[0] != "end":
            raise ValueError(f"unexpected {self.peek()[1]!r}")

    def filter(self) -> None:
        self.term()
        while self.peek()[0] not in ("end", "punct") or self.peek()[1] == "(":
            if self.peek()[0] in ("AND", "OR"):
                self.i += 1
            self.term()

    def term(self) -> None:
        if self.peek()[0] == "NOT":
            self.i += 1
        if self.peek() == ("punct", "("):
            self.i += 1
            self.filter()
            self.take("punct", ")")
            return
        selector = self.take("word")
        if not _SELECTOR.fullmatch(selector):
            raise ValueError(f"{selector!r} is no Monitoring selector")
        op = self.take("op")
        kind, value = self.peek()
        if kind == "string":
            self.i += 1
            self.metric_types += selector == "metric.type"
        elif kind == "number" and op not in ("=", "!="):
            self.i += 1
        elif kind == "word" and value in _FUNCTIONS and op in ("=", "!="):
            self.i += 1
            self.take("punct", "(")
            self.take("string")
            while self.peek() == ("punct", ","):
                self.i += 1
                self.take("string")
            self.take("punct", ")")
        else:
            raise ValueError(f"{selector} {op} {value!r}: no Monitoring value")


def filter_problems(text: str) -> list[str]:
    """Why the Monitoring API would refuse this time series filter ([] when it would not)."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)  # what quoted values hold is no syntax
    problems = [f"Logging syntax: {why}" for pattern, why in LOGGING_ONLY if pattern.search(bare)]
    if ":" in bare:
        problems.append("Logging syntax: the has operator ':' (Monitoring: = or a function)")
    parser = _Parser(text)
    try:
        parser.parse()
    except ValueError as exc:
        problems.append(str(exc))
    else:
        if parser.metric_types != 1:
            problems.append("a time series filter names exactly one metric.type")
    return problems


# --- The dashboard, rendered by terraform ---------------------------------------------------


def render_expression(expression: str, config: Config, evaluator: Evaluator, tmp: Path) -> Any:
    """The value of one Terraform expression that reads only variables and locals, evaluated
    by `terraform console` in a scratch module (no provider: no init needed). Each local it
    names is passed in as its value (tfeval's), each variable as the example inputs give it."""
    inner = expression[2:-1] if expression.startswith("${") else json.dumps(expression)
    local_names = sorted(set(re.findall(r"\blocal\.(\w+)", inner)))
    var_names = sorted(set(re.findall(r"\bvar\.(\w+)", inner)))
    inputs = {f"local_{n}": evaluator.value(config.locals[n]) for n in local_names}
    inputs |= {n: evaluator.vars[n] for n in var_names}
    module = [f'variable "{n}" {{\n  type = any\n}}' for n in inputs]
    assigned = "\n".join(f"  {n} = var.local_{n}" for n in local_names)
    module.append(f"locals {{\n{assigned}\n  rendered = {inner}\n}}")
    (tmp / "main.tf").write_text("\n\n".join(module) + "\n")
    (tmp / "terraform.tfvars.json").write_text(json.dumps(inputs))
    result = subprocess.run(
        ["terraform", "console"],
        input="jsonencode(local.rendered)\n",
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(json.loads(result.stdout.strip()))


needs_terraform = pytest.mark.skipif(
    shutil.which("terraform") is None, reason="needs the terraform CLI (no provider, no init)"
)


@pytest.fixture(scope="module")
def dashboard(config: Config, evaluator: Evaluator, tmp_path_factory) -> dict:
    body = config.resource("google_monitoring_dashboard", "operations")
    rendered = render_expression(
        body["dashboard_json"], config, evaluator, tmp_path_factory.mktemp("dashboard")
    )
    assert isinstance(rendered, str)  # jsonencode(...)
    return json.loads(rendered)


def dashboard_problems(dashboard: dict) -> list[str]:
    """What the Dashboards API would refuse, or answer differently (a change on every plan)."""
    try:
        message = json_format.ParseDict(dashboard, Dashboard.pb()(), ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        return [f"Dashboard: {exc}"]
    problems = []
    answered = json_format.MessageToDict(message)
    if answered != dashboard:
        problems.append(
            "the API answers another JSON (zero, empty or default values written): "
            + ", ".join(sorted(_differences(dashboard, answered)))
        )
    for where, text in _filters(dashboard):
        problems += [f"{where}: {p}: {text}" for p in filter_problems(text)]
    return problems


def _differences(written: Any, answered: Any, where: str = "") -> set[str]:
    if isinstance(written, dict) and isinstance(answered, dict):
        out = set()
        for key in written.keys() | answered.keys():
            if key not in answered:
                out.add(f"{where}.{key}={written[key]!r}")
            elif key not in written:
                out.add(f"{where}.{key} (added)")
            else:
                out |= _differences(written[key], answered[key], f"{where}.{key}")
        return out
    if isinstance(written, list) and isinstance(answered, list) and len(written) == len(answered):
        out = set()
        for w, a in zip(written, answered, strict=True):
            out |= _differences(w, a, f"{where}[]")
        return out
    return set() if written == answered else {f"{where}={written!r}"}


def _filters(node: Any, where: str = "") -> list[tuple[str, str]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("filter", "denominatorFilter", "numeratorFilter") and isinstance(value, str):
                found.append((f"{where}.{key}", value))
            else:
                found += _filters(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _filters(value, f"{where}[{i}]")
    return found


@needs_terraform
def test_the_dashboard_is_a_dashboards_api_message_answered_back_unchanged(dashboard):
    assert dashboard["mosaicLayout"]["tiles"], "no tile rendered"
    assert dashboard_problems(dashboard) == []


# --- The alert policies, in the API's field names -------------------------------------------


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _dynamic_for_each(expression: str, evaluator: Evaluator) -> list:
    if m := re.fullmatch(r"\$\{(.+) == null \? \[\] : \[1\]\}", expression):
        return [] if evaluator.expr(m[1]) is None else [1]
    return list(evaluator.value(expression))


def api_message(body: dict, schema: dict, evaluator: Evaluator) -> dict:
    """One block's body as the API's JSON: arguments camelCased, nulls left out, blocks as
    messages (a single one where the provider's schema says it is no list)."""
    out: dict[str, Any] = {}
    blocks: dict[str, list[dict]] = {}
    for key, value in body.items():
        if key in _META or key in _TF_META:
            continue
        if key == "dynamic":
            for entry in value:
                for name, spec in entry.items():
                    if name in _META:
                        continue
                    for _ in _dynamic_for_each(spec["for_each"], evaluator):
                        blocks.setdefault(name, []).extend(spec["content"])
        elif is_block(value):
            blocks.setdefault(key, []).extend(value)
        else:
            evaluated = evaluator.value(value)
            if evaluated is not None:
                out[_camel(key)] = evaluated
    for name, instances in blocks.items():
        block_schema = schema["blocks"][name]
        messages = [api_message(b, block_schema, evaluator) for b in instances]
        out[_camel(name)] = messages if block_schema["list"] else messages[0]
    return out


def alert_policies(config: Config, evaluator: Evaluator, schema: dict) -> dict[str, dict]:
    """`<resource name>[<key>]` -> the AlertPolicy JSON of each instance of each block."""
    policy_schema = schema["resources"]["google_monitoring_alert_policy"]
    out = {}
    for name, body in config.of_type("google_monitoring_alert_policy").items():
        instances = evaluator.value(body["for_each"]) if "for_each" in body else {None: {}}
        for key, each in instances.items():
            saved = evaluator.scope
            evaluator.scope = {**saved, "each.key": key}
            evaluator.scope |= {f"each.value.{k}": v for k, v in each.items()}
            try:
                out[name if key is None else f"{name}[{key}]"] = api_message(
                    body, policy_schema, evaluator
                )
            finally:
                evaluator.scope = saved
    return out


def alert_problems(policy: dict) -> list[str]:
    try:
        json_format.ParseDict(policy, AlertPolicy.pb()(), ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        return [f"AlertPolicy: {exc}"]
    return [f"{w}: {p}: {t}" for w, t in _filters(policy) for p in filter_problems(t)]


@pytest.fixture(scope="module")
def policies(config: Config, evaluator: Evaluator, schema: dict) -> dict[str, dict]:
    return alert_policies(config, evaluator, schema)


def test_every_alert_policy_is_an_alert_policy_api_message(policies):
    assert "audit_failed" in policies and "alert[gate_closed]" in policies
    problems = {name: alert_problems(policy) for name, policy in policies.items()}
    assert {name: p for name, p in problems.items() if p} == {}
    assert "conditionAbsent" in policies["sweeps_stopped"]["conditions"][0]
    for policy in policies.values():
        for condition in policy["conditions"]:
            threshold = condition.get("conditionThreshold", {})
            # A ratio aggregates its denominator too, over the same period.
            if "denominatorFilter" in threshold:
                assert threshold["denominatorAggregations"] == threshold["aggregations"]
            else:
                assert "denominatorAggregations" not in threshold


def test_alerts_on_log_based_metrics_wait_until_the_metrics_are_visible(config, policies):
    """hashicorp/terraform-provider-google#11102: 404 for up to 10 minutes after a log-based
    metric is created; propagation.tf's wait, in the depends_on of every such policy."""
    on_user_metrics = {name.split("[")[0] for name, p in policies.items() if USER_METRIC in str(p)}
    assert on_user_metrics == {"alert", "sweeps_stopped"}
    for name in on_user_metrics:
        body = config.resource("google_monitoring_alert_policy", name)
        assert "${time_sleep.log_metrics_visible}" in body["depends_on"], name


# --- The checks catch what they are for ------------------------------------------------------


def test_the_filter_check_names_logging_syntax_and_passes_monitoring_syntax():
    logging_scope = 'resource.labels.service_name=("a" OR "b")'
    old = f'metric.type="run.googleapis.com/container/instance_count" AND {logging_scope}'
    assert any("one_of" in p for p in filter_problems(old))
    for text in (
        'metric.type="x" AND jsonPayload.event="video.submitted"',
        'metric.type="x" AND severity>=ERROR',
        'metric.type="x" AND resource.labels.service_name:"api"',
        'metric.type="x" AND resource.labels.service_name=~"api.*"',
        'metric.type="x" AND labels.execution_id="1"',
        'resource.type="cloud_run_revision"',  # no metric type
    ):
        assert filter_problems(text), text
    for text in (
        'metric.type="x" AND resource.labels.service_name=one_of("a", "b")',
        'metric.type="x" resource.type="y" (resource.label.backend="z")',
        'metric.type="x" AND metric.labels.zone=starts_with("europe-") AND NOT metric.labels.a="b"',
        'metric.type="x" AND resource.labels.name=monitoring.regex.full_match("gke-(a|b).*")',
        'metric.type="x" AND metric.labels.response_code_class="5xx"',
    ):
        assert filter_problems(text) == [], text


def test_the_dashboard_check_refuses_empty_values_unknown_fields_and_logging_filters():
    line = {
        "plotType": "LINE",
        "timeSeriesQuery": {
            "timeSeriesFilter": {
                "filter": 'metric.type="x"',
                "aggregation": {"alignmentPeriod": "60s", "perSeriesAligner": "ALIGN_SUM"},
            }
        },
    }
    tile = {"width": 6, "height": 4, "widget": {"title": "t", "xyChart": {"dataSets": [line]}}}
    good = {"displayName": "d", "mosaicLayout": {"columns": 12, "tiles": [tile]}}
    assert dashboard_problems(good) == []
    as_before = json.loads(json.dumps(good))  # what the dashboard wrote before issue 19
    as_before["mosaicLayout"]["tiles"][0] |= {"xPos": 0, "yPos": 0}
    old_line = as_before["mosaicLayout"]["tiles"][0]["widget"]["xyChart"]["dataSets"][0]
    old_line["legendTemplate"] = ""
    old_line["timeSeriesQuery"]["timeSeriesFilter"]["aggregation"] |= {
        "crossSeriesReducer": "REDUCE_NONE",
        "groupByFields": [],
    }
    [problem] = dashboard_problems(as_before)
    for written in ("xPos=0", "yPos=0", "legendTemplate=''", "REDUCE_NONE", "groupByFields=[]"):
        assert written in problem
    unknown = json.loads(json.dumps(good)) | {"mosaicLayout": {"columns": 12, "tile": []}}
    assert "tile" in dashboard_problems(unknown)[0]
    old_line["timeSeriesQuery"]["timeSeriesFilter"]["filter"] = 'metric.type="x" AND a=("b")'
    assert any("one_of" in p for p in dashboard_problems(as_before))


def test_the_alert_check_refuses_a_field_the_api_does_not_have():
    policy = {"displayName": "p", "combiner": "OR", "conditions": [{"displayName": "c"}]}
    assert alert_problems(policy) == []
    assert alert_problems(policy | {"notificationChannel": []})
    condition = {"displayName": "c", "conditionThreshold": {"filter": 'a=("b" OR "c")'}}
    assert alert_problems(policy | {"conditions": [condition]})
