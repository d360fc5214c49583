"""Log-based metrics count events the code really emits, with fields those events carry;
alerts and the dashboard use metrics that exist."""

from __future__ import annotations

import ast
import json
import re
from collections import defaultdict

from shared.domain.creation import Kind
from tests.terraform.tfcheck import ROOT

_EVENT_IN_FILTER = re.compile(r'jsonPayload\.event=(?:"([\w.]+)"|\(([^)]*)\))')
_FIELD = re.compile(r"jsonPayload\.(\w+)")


def emitted_events() -> dict[str, set[str] | None]:
    """event name -> the fields its emit calls pass (None when some call passes **fields).
    An f-string name such as f"{creation.kind}.refunded" stands for every Kind."""
    events: dict[str, set[str] | None] = defaultdict(set)
    for path in [*ROOT.glob("shared/**/*.py"), *ROOT.glob("functions/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "emit"
                and ast.unparse(node.func.value) == "events"
                and node.args
            ):
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names = [first.value]
            elif isinstance(first, ast.JoinedStr):
                pattern = "".join(
                    v.value if isinstance(v, ast.Constant) else "{}" for v in first.values
                )
                names = [pattern.format(kind.value) for kind in Kind]
            else:
                continue
            fields = {k.arg for k in node.keywords if k.arg}
            for name in names:
                if any(k.arg is None for k in node.keywords) or events.get(name, set()) is None:
                    events[name] = None
                else:
                    events[name] |= fields
    return dict(events)


def filter_events(text: str) -> set[str]:
    found = set()
    for single, group in _EVENT_IN_FILTER.findall(text):
        if single:
            found.add(single)
        else:
            found |= {e.strip().strip('"') for e in group.split(" OR ")}
    return found


def metrics(config, evaluator) -> dict[str, dict]:
    """name -> {filter, extractors}: every log-based metric and what it reads."""
    out = {}
    for key, spec in evaluator.value(config.locals["log_counters"]).items():
        out[key] = {"filter": spec["filter"], "extractors": list(spec["labels"].values())}
    dist = config.resource("google_logging_metric", "video_time_to_draft")
    out["video_time_to_draft"] = {
        "filter": evaluator.value(dist["filter"]),
        "extractors": [dist["value_extractor"]],
    }
    return out


def test_the_code_emits_the_events_the_issue_names():
    events = emitted_events()
    for name in ("video.submitted", "video.enqueue_failed", "video.refunded", "video.completed"):
        assert name in events
    assert "queueErrorCode" in events["video.enqueue_failed"]
    assert "image.refunded" in events


def test_each_log_metric_counts_events_the_code_emits(config, evaluator):
    events = emitted_events()
    for name, metric in metrics(config, evaluator).items():
        named = filter_events(metric["filter"])
        assert named, f"{name}: its filter names no event"
        unknown = named - set(events)
        assert not unknown, f"{name}: the code emits no {sorted(unknown)}"
        # Each field it extracts or tests is one those events carry.
        used = set(_FIELD.findall(" ".join([metric["filter"], *metric["extractors"]]))) - {"event"}
        for event in named:
            carried = events[event]
            if carried is not None:  # None: fields passed as **mapping, not checkable here
                assert used <= carried, f"{name}: {event} carries no {sorted(used - carried)}"


def test_the_event_check_catches_a_misspelt_event():
    named = filter_events('jsonPayload.event=("video.sumbitted" OR "video.refunded")')
    assert named == {"video.sumbitted", "video.refunded"}
    assert named - set(emitted_events()) == {"video.sumbitted"}


def test_the_metrics_the_issue_asks_for_exist(config):
    counters = config.locals["log_counters"]
    assert {"video_submitted", "video_enqueue_failed", "refunded", "queue_gate_refused"} <= set(
        counters
    )
    assert {"video_failed", "image_failed", "reconcile_found_stuck"} <= set(counters)
    assert "queue_error_code" in counters["video_enqueue_failed"]["labels"]
    assert "reason" in counters["refunded"]["labels"]
    assert "error_code" in counters["video_failed"]["labels"]


def test_alerts_and_the_dashboard_use_metrics_that_exist(config, evaluator):
    defined = set(evaluator.value(config.locals["metric_type"]).values())
    builtin = {
        "cloudtasks.googleapis.com/queue/depth",
        "cloudtasks.googleapis.com/queue/task_attempt_count",
        "cloudtasks.googleapis.com/queue/task_attempt_delays",
        "run.googleapis.com/request_count",
        "run.googleapis.com/request_latencies",
        "run.googleapis.com/container/instance_count",
    }
    alerts = evaluator.value(config.locals["alerts"])
    assert set(alerts) >= {"enqueue_failures", "refunds", "queue_depth", "task_delay"}
    assert set(alerts) >= {"worker_errors", "stuck_creations"}
    for alert in alerts.values():
        assert alert["runbook"] and alert["threshold"] > 0
    policy = config.of_type("google_monitoring_alert_policy")["alert"]
    assert policy["notification_channels"] == "${var.notification_channels}"
    texts = json.dumps([evaluator.value(config.locals["charts"]), alerts])
    used = set(re.findall(r'metric\.type=\\"([^"\\]+)\\"', texts))
    assert used, "no metric found in the alerts and charts"
    assert used <= defined | builtin, used - defined - builtin
