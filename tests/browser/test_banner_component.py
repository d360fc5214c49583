"""<queue-status-banner> on its own, in Chromium, with the api's answers scripted by
Playwright's routing (no stack): what it shows, the events it fires, its re-check on demand,
and the small pure functions of web/queue-status-banner.js and web/api.js."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from devtools.web_server import WebServer

API = "http://api.test"  # never resolved: every request to it is answered by a route
MESSAGE = (
    "Video generation is temporarily unavailable — nothing will be charged; "
    "try again in a few minutes"
)
HOST_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script type="module" src="/queue-status-banner.js"></script></head><body>
<button id="video">Generate video</button>
<queue-status-banner style="--queue-banner-bg: rgb(1, 2, 3)" interval="60" retry="60"
  max-interval="60"></queue-status-banner>
<script>
  window.changes = [];
  document.addEventListener("queue-status-change", (e) => {
    window.changes.push(e.detail);
    document.getElementById("video").disabled = !e.detail.available;
  });
</script></body></html>"""


@pytest.fixture(scope="module")
def web() -> Iterator[WebServer]:
    with WebServer(0, API) as server:
        yield server


class ScriptedHealth:
    """Answers GET /api/health/queue with the current scripted answer; counts the calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.answer: tuple[int, dict] | None = (200, {"status": "ok", "state": "RUNNING"})

    def __call__(self, route) -> None:
        self.calls += 1
        if self.answer is None:
            route.abort("connectionrefused")
            return
        status, body = self.answer
        route.fulfill(
            status=status,
            headers={"Access-Control-Allow-Origin": "*", "Retry-After": "10"},
            content_type="application/json",
            body=json.dumps({**body, "checkedAt": "2026-11-28T12:00:00+00:00"}),
        )

    def paused(self) -> None:
        self.answer = (503, {"status": "paused", "state": "PAUSED", "reason": "maintenance"})


@pytest.fixture
def host(web, new_page):
    page = new_page()
    health = ScriptedHealth()
    page.route(f"{API}/api/health/queue", health)
    page.route(
        f"{web.url}/host.html",
        lambda route: route.fulfill(body=HOST_PAGE, content_type="text/html"),
    )
    page.goto(f"{web.url}/host.html")
    return page, health


def banner_text(page):
    return page.locator("queue-status-banner").locator(".banner")


def set_api(page) -> None:
    page.locator("queue-status-banner").evaluate(f"b => b.setAttribute('api', '{API}')")


def test_nothing_is_checked_before_the_api_is_set(host):
    page, health = host
    expect(page.locator("queue-status-banner")).to_be_attached()
    assert page.evaluate("window.changes") == []
    assert health.calls == 0


def test_hidden_while_ok_and_says_so_with_an_event(host):
    page, health = host
    set_api(page)
    page.wait_for_function("window.changes.length === 1")
    assert page.evaluate("window.changes[0]")["available"] is True
    assert page.evaluate("window.changes[0]")["status"] == "ok"
    expect(page.locator("queue-status-banner")).to_be_hidden()
    expect(page.locator("#video")).to_be_enabled()


def test_shown_when_paused_hidden_when_back_with_a_recheck_on_demand(host):
    page, health = host
    health.paused()
    set_api(page)
    expect(banner_text(page)).to_be_visible()
    expect(banner_text(page)).to_contain_text(MESSAGE)
    # A code is for operators: in the tooltip, not in the sentence (issue 22).
    expect(banner_text(page)).not_to_contain_text("maintenance")
    expect(banner_text(page)).to_have_attribute("title", "Status: maintenance")
    expect(page.locator("#video")).to_be_disabled()
    region = page.locator("queue-status-banner").get_by_role("status")
    expect(region).to_have_attribute("aria-live", "polite")
    detail = page.evaluate("window.changes.at(-1)")
    assert detail["available"] is False and detail["status"] == "paused"
    assert detail["state"] == "PAUSED" and detail["reason"] == "maintenance"

    # Back: the next check is a minute away, so only recheck() can show it now.
    health.answer = (200, {"status": "ok", "state": "RUNNING"})
    page.locator("queue-status-banner").evaluate("b => b.recheck()")
    expect(page.locator("queue-status-banner")).to_be_hidden()
    expect(page.locator("#video")).to_be_enabled()
    assert page.evaluate("window.changes.map(c => c.status)") == ["paused", "ok"]


def test_the_document_event_rechecks_too(host):
    page, health = host
    set_api(page)
    page.wait_for_function("window.changes.length === 1")
    health.paused()
    page.evaluate("document.dispatchEvent(new CustomEvent('queue-status-recheck'))")
    expect(banner_text(page)).to_be_visible()
    expect(page.locator("#video")).to_be_disabled()


def test_one_lost_check_is_not_an_outage_two_are(host):
    page, health = host
    set_api(page)
    page.wait_for_function("window.changes.length === 1")
    health.answer = None  # the api cannot be reached
    banner = page.locator("queue-status-banner")
    assert banner.evaluate("b => b.recheck()")["available"] is True
    assert banner.evaluate("b => b.recheck()") == {"available": False, "status": "unreachable"}
    expect(banner_text(page)).to_contain_text(MESSAGE)


def test_themable_with_css_custom_properties(host):
    page, health = host
    health.paused()
    set_api(page)
    expect(banner_text(page)).to_have_css("background-color", "rgb(1, 2, 3)")


def test_pure_rules(web, new_page):
    page = new_page()
    page.goto(f"{web.url}/config.json")  # an origin from which the modules can be imported
    result = page.evaluate(
        """async () => {
          const b = await import("/queue-status-banner.js");
          const a = await import("/api.js");
          const opts = { interval: 30, retry: 5, maxInterval: 60 };
          const delay = (state) => b.nextDelaySeconds(state, opts);
          let n = 0;
          const keys = new a.SubmitKeys(() => `k${++n}`);
          const first = keys.keyFor("same form");
          keys.settle("same form", 0);               // no answer: may have been charged
          const retried = keys.keyFor("same form");
          keys.settle("same form", 202);
          const next = keys.keyFor("same form");
          const other = keys.keyFor("another form");
          const e402 = new a.ApiError(402, { balance: 3, required: 10 });
          return {
            ok: b.interpret(200, { status: "ok", state: "RUNNING" }),
            paused: b.interpret(503, { status: "paused", state: "PAUSED", reason: "r" }),
            html404: b.interpret(404, null),
            delays: [1, 2, 3, 4, 5].map((failures) => delay({ available: false, failures })),
            okDelay: delay({ available: true, failures: 0 }),
            hinted: delay({ available: false, failures: 1, retryAfter: 20 }),
            hintCapped: delay({ available: false, failures: 1, retryAfter: 900 }),
            keys: [first, retried, next, other],
            settled: [
              [202, null], [0, null], [409, { code: "busy" }],
              [503, { code: "service_unavailable" }],
              [503, { code: "queue_unavailable", refunded: true }],
              [503, { code: "queue_unavailable", charged: false }], [402, {}], [429, {}],
            ].map(([s, body]) => a.submitSettled(s, body)),
            e402: a.describeError(e402, "video"),
          };
        }"""
    )
    assert result["ok"] == {"available": True, "status": "ok", "state": "RUNNING", "reason": None}
    assert result["paused"]["available"] is False and result["paused"]["reason"] == "r"
    assert result["html404"]["status"] == "unreachable" and result["html404"]["miss"] is True
    assert result["delays"] == [5, 10, 20, 40, 60]
    assert result["okDelay"] == 30
    assert result["hinted"] == 20 and result["hintCapped"] == 60
    assert result["keys"] == ["k1", "k1", "k2", "k3"]
    assert result["settled"] == [True, False, False, False, True, True, True, True]
    assert result["e402"] == (
        "Not enough tokens: this video costs 10 and your balance is 3. Nothing was charged."
    )
