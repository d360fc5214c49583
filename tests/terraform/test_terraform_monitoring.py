"""Log-based metrics count events the code really emits, with fields those events carry;
alerts and the dashboard use metrics that exist."""

from __future__ import annotations

import ast
import json
import logging
import re
from collections import defaultdict
from datetime import UTC, datetime

from shared import events as app_events
from shared.domain.creation import Creation, Ending, Kind, Refund, end_with_refund
from tests.terraform.tfcheck import ROOT

_EVENT_IN_FILTER = re.compile(r'jsonPayload\.event=(?:"([\w.]+)"|\(([^)]*)\))')
_FIELD = re.compile(r"jsonPayload\.(\w+)")


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[str, set[str]] = defaultdict(set)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines[record.event] |= set(record.fields)  # type: ignore[attr-defined]


def ended_lines() -> dict[str, set[str]]:
    """What `events.ended` writes, run for a creation of each kind ended each way (failed,
    expired, cancelled): event name -> the fields of its line."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    handler = _Lines()
    logger = logging.getLogger("creator.events")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        for kind in Kind:
            for refund in (Refund("generation_failed"), Refund.expired(), Refund.cancelled()):
                c = Creation("c1", "u1", kind, "p", {}, 1, now, now, now)
                ended = end_with_refund(c, now, refund)
                assert ended is not None
                app_events.ended(ended)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert {f"{k}.{e}" for k in Kind for e in Ending} <= set(handler.lines)
    return dict(handler.lines)


def emitted_events() -> dict[str, set[str] | None]:
    """event name -> the fields its emit calls pass (None when some call passes **fields).
    An f-string name such as f"{creation.kind}.refunded" stands for every Kind; a call of
    `events.ended(creation, **more)` for the lines `ended_lines` saw, with `more`."""
    events: dict[str, set[str] | None] = defaultdict(set)
    ended = ended_lines()
    for path in [*ROOT.glob("shared/**/*.py"), *ROOT.glob("functions/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("emit", "ended")
                and ast.unparse(node.func.value) == "events"
                and node.args
            ):
                continue
            if node.func.attr == "ended":
                more = {k.arg for k in node.keywords if k.arg}
                for name, fields in ended.items():
                    if events.get(name, set()) is not None:
                        events[name] |= fields | (
                            more if name.split(".")[1] in set(Ending) else set()
                        )
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
    for key, dist in config.of_type("google_logging_metric").items():
        if key != "counter":  # the distributions, one resource each
            out[key] = {
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
    # Each end of a creation has its own event, with its error code; the refund its own.
    for name in ("video.failed", "video.expired", "video.cancelled", "image.failed"):
        assert "errorCode" in events[name]
    assert {"reason", "ending", "amount"} <= events["video.refunded"]
    assert "queueErrorCode" in events["video.failed"]  # an enqueue failure says the queue's code


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
    assert {"creations_failed", "video_cancelled"} <= set(counters)
    assert "code" in counters["video_start_deferred"]["labels"]  # the provider's 429s
    assert "queue_error_code" in counters["video_enqueue_failed"]["labels"]
    assert "reason" in counters["refunded"]["labels"]
    assert "error_code" in counters["video_failed"]["labels"]
    assert {"kind", "error_code"} <= set(counters["creations_failed"]["labels"])


def test_failures_count_failures_and_expiries_and_never_a_cancel(config, evaluator):
    found = {name: filter_events(m["filter"]) for name, m in metrics(config, evaluator).items()}
    ends = {f"{kind}.{ending}" for kind in Kind for ending in (Ending.FAILED, Ending.EXPIRED)}
    assert found["creations_failed"] == ends
    assert found["video_failed"] == {"video.failed", "video.expired"}
    assert found["image_failed"] == {"image.failed", "image.expired"}
    assert found["video_cancelled"] == {"video.cancelled"}
    assert found["refunded"] == {"video.refunded", "image.refunded"}  # money, not failures
    alerts = evaluator.value(config.locals["alerts"])
    assert "creations_failed" in alerts["failures"]["filter"]
    # Only the cancel counter counts cancels; no alert reads it or the refunds.
    for name, events in found.items():
        if name != "video_cancelled":
            assert not {e for e in events if e.endswith(".cancelled")}, name
    for alert in alerts.values():
        assert "_refunded" not in alert["filter"] and "_cancelled" not in alert["filter"]


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
    assert set(alerts) >= {"enqueue_failures", "failures", "queue_depth", "task_delay"}
    assert set(alerts) >= {"worker_errors", "stuck_creations", "gate_closed"}
    for alert in alerts.values():
        assert alert["runbook"] and alert["threshold"] > 0
    policy = config.of_type("google_monitoring_alert_policy")["alert"]
    assert policy["notification_channels"] == "${var.notification_channels}"
    texts = json.dumps([evaluator.value(config.locals["charts"]), alerts])
    used = set(re.findall(r'metric\.type=\\"([^"\\]+)\\"', texts))
    assert used, "no metric found in the alerts and charts"
    assert used <= defined | builtin, used - defined - builtin


def test_refused_submits_have_their_own_alert(config, evaluator):
    """The gate refuses submits uncharged while the queue is closed: no enqueue attempt, so
    the enqueue-failure ratio sees only the first seconds of an outage; this alert all of it."""
    found = {name: filter_events(m["filter"]) for name, m in metrics(config, evaluator).items()}
    assert found["queue_gate_refused"] == {"video.rejected_queue_closed"}
    assert "video.rejected_queue_closed" not in found["video_enqueue_attempts"]
    alerts = evaluator.value(config.locals["alerts"])
    gate = alerts["gate_closed"]
    assert gate["filter"].startswith(
        f'metric.type="{evaluator.value(config.locals["metric_type"])["queue_gate_refused"]}"'
    )
    assert gate["threshold"] == evaluator.vars["alert_gate_refusals_per_5m"]
    assert gate["denominator"] is None and gate["severity"] == "CRITICAL"


def test_the_docs_name_every_alert_variable_and_no_other(config):
    text = (ROOT / "docs" / "deploy.md").read_text()
    named = set(re.findall(r"`(alert_\w+)`", text))
    declared = {name for name in config.variables if name.startswith("alert_")}
    assert named == declared
    example = (ROOT / "terraform" / "terraform.tfvars.example").read_text()
    assert set(re.findall(r"\b(alert_\w+)\s*=", example)) <= declared


def test_the_start_line_has_its_metrics_and_its_alert(config, evaluator):
    """Issue 21: the provider's 429s (video.start_deferred), and the oldest wait for a start
    (video.start_line, logged by each reconcile sweep), charted and alerted on past
    alert_oldest_wait_seconds (half of max_queue_wait_seconds) for 5 minutes."""
    found = {name: filter_events(m["filter"]) for name, m in metrics(config, evaluator).items()}
    assert found["video_start_deferred"] == {"video.start_deferred"}
    assert found["video_oldest_wait"] == found["video_waiting"] == {"video.start_line"}
    types = evaluator.value(config.locals["metric_type"])
    alert = evaluator.value(config.locals["alerts"])["oldest_wait"]
    assert alert["filter"].startswith(f'metric.type="{types["video_oldest_wait"]}"')
    assert alert["threshold"] == evaluator.vars["alert_oldest_wait_seconds"]
    assert alert["threshold"] * 2 == evaluator.vars["max_queue_wait_seconds"]
    assert alert["duration"] == "300s" and alert["denominator"] is None
    for step in ("VEO_STARTS_PER_MINUTE", "VEO_LOCATIONS", "VEO_FALLBACK_MODELS", "pause"):
        assert step in alert["runbook"]
    charted = json.dumps(evaluator.value(config.locals["charts"]))
    for key in ("video_start_deferred", "video_oldest_wait", "video_waiting"):
        assert f'metric.type=\\"{types[key]}\\"' in charted, key


def test_the_providers_refusals_have_their_own_alert(config, evaluator):
    """A 429 puts the start back in line (nothing lost), but many of them mean the start
    queue's pace is above the quota: the alert counts only the 429's code, which is the code
    the worker logs on video.start_deferred for it."""
    from shared.services.video_steps import RATE_LIMITED

    types = evaluator.value(config.locals["metric_type"])
    alert = evaluator.value(config.locals["alerts"])["provider_refusals"]
    assert alert["filter"].startswith(f'metric.type="{types["video_start_deferred"]}"')
    assert f'metric.labels.code="{RATE_LIMITED}"' in alert["filter"]
    assert alert["threshold"] == evaluator.vars["alert_provider_refusals_per_15m"]
    assert (alert["period"], alert["aligner"], alert["denominator"]) == ("900s", "ALIGN_SUM", None)
    for step in ("veo_starts_per_minute", "VEO_LOCATIONS", "VEO_FALLBACK_MODELS"):
        assert step in alert["runbook"]


def test_an_alert_fires_when_the_reconcile_sweeps_stop(config, evaluator):
    """The sweeps refund what nothing else will and log the start line the oldest-wait alert
    reads: if they stop, that alert has no points. An absence condition on a counter of every
    sweep (reconcile.swept, which the sweep logs at its end) fires after 15 minutes."""
    found = {name: filter_events(m["filter"]) for name, m in metrics(config, evaluator).items()}
    assert found["reconcile_swept"] == {"reconcile.swept"}
    assert "reconcile.swept" in emitted_events()
    policy = config.of_type("google_monitoring_alert_policy")["sweeps_stopped"]
    (condition,) = policy["conditions"]
    (absent,) = condition["condition_absent"]
    types = evaluator.value(config.locals["metric_type"])
    assert evaluator.value(absent["filter"]).startswith(f'metric.type="{types["reconcile_swept"]}"')
    assert absent["duration"] == "900s" and policy["severity"] == "CRITICAL"
    assert policy["notification_channels"] == "${var.notification_channels}"
    scheduler = config.of_type("google_cloud_scheduler_job")["reconcile"]
    assert scheduler["schedule"] == "* * * * *"  # 15 minutes: 15 sweeps missed in a row


def test_the_dashboards_queue_charts_show_both_queues_and_the_alerts_one(config, evaluator):
    """The start queue holds the videos waiting for their start: charted beside the video
    queue, one line per queue, but not alerted on by depth (its alert is the oldest wait)."""
    video = evaluator.value(config.of_type("google_cloud_tasks_queue")["video"]["name"])
    start = evaluator.value(config.of_type("google_cloud_tasks_queue")["video_start"]["name"])
    queue_charts = [
        chart
        for chart in evaluator.value(config.locals["charts"])
        if "cloudtasks.googleapis.com" in chart["lines"][0]["filter"]
    ]
    assert len(queue_charts) == 3
    for chart in queue_charts:
        (line,) = chart["lines"]
        assert f'queue_id=one_of("{video}", "{start}")' in line["filter"], chart["title"]
        assert "resource.labels.queue_id" in line["group_by"], chart["title"]
    alerts = evaluator.value(config.locals["alerts"])
    for name in ("queue_depth", "task_delay"):
        assert alerts[name]["filter"].endswith(f'resource.labels.queue_id="{video}"'), name
