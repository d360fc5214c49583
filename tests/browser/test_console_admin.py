"""The operator dashboard in a real browser: an admin pauses the queue and a user sees the
banner and a disabled video button within seconds, then both come back on resume; the
dashboard's figures, failures and reconcile button; a non-admin is refused."""

from __future__ import annotations

import contextlib

import pytest
from playwright.sync_api import expect

from tests.browser.harness import ADMIN, fresh_uid, sign_in

pytestmark = pytest.mark.stack

BANNER = "Video generation is temporarily unavailable — nothing will be charged"


@contextlib.contextmanager
def resumed_afterwards(stack):
    """Whatever happens in the test, the next one finds the queue running."""
    try:
        yield
    finally:
        queue = stack.api("GET", "/api/health/queue", ADMIN).json()
        if queue.get("status") != "ok":
            stack.api("POST", "/api/admin/queue/resume", ADMIN, json={"reason": "test cleanup"})


def test_a_non_admin_is_refused_the_dashboard(stack, new_page):
    page = new_page()
    uid = fresh_uid("nosy")
    sign_in(page, stack, uid, path="/admin")
    refusal = page.get_by_test_id("refusal")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("This dashboard is for operators")
    expect(refusal).to_contain_text(uid)
    expect(page.get_by_test_id("dashboard")).to_be_hidden()
    expect(page.get_by_test_id("pause")).to_be_hidden()


def test_the_user_view_links_to_the_dashboard_for_admins_only(stack, new_page):
    user = new_page()
    sign_in(user, stack, fresh_uid("plain"))
    expect(user.get_by_test_id("balance")).to_have_text("100")
    expect(user.get_by_role("link", name="Operator dashboard")).to_be_hidden()
    admin = new_page()
    sign_in(admin, stack, ADMIN)
    expect(admin.get_by_role("link", name="Operator dashboard")).to_be_visible()


def test_pause_shows_the_banner_and_disables_video_resume_brings_both_back(stack, new_page):
    user = new_page()
    sign_in(user, stack, fresh_uid("watcher"))
    banner = user.locator("queue-status-banner")
    submit = user.get_by_test_id("submit")
    expect(submit).to_have_text("Generate video · 10 tokens")
    expect(submit).to_be_enabled()
    expect(banner).to_be_hidden()

    admin = new_page()
    sign_in(admin, stack, ADMIN, path="/admin")
    state = admin.get_by_test_id("queue-state")
    expect(state).to_have_text("Running")
    with resumed_afterwards(stack):
        admin.get_by_test_id("queue-reason").fill("provider maintenance window")
        admin.get_by_test_id("pause").click()
        expect(state).to_have_text("Paused")
        change = admin.get_by_test_id("queue-change")
        expect(change).to_contain_text(f"Last paused by {ADMIN}")
        expect(change).to_contain_text("provider maintenance window")
        # Who and why are user text: isolated, a right-to-left reason cannot reorder the line.
        expect(change.locator("bdi")).to_have_text([ADMIN, "provider maintenance window"])

        # The user view finds out by itself, within its re-check interval.
        expect(banner).to_be_visible()
        expect(banner).to_contain_text(BANNER)
        expect(submit).to_be_disabled()
        expect(user.get_by_test_id("form-note")).to_contain_text("images still work")
        user.get_by_label("Image", exact=True).check()
        expect(submit).to_be_enabled()  # images do not go through the queue
        user.get_by_label("Video", exact=True).check()
        expect(submit).to_be_disabled()

        admin.get_by_test_id("queue-reason").fill("maintenance over")
        admin.get_by_test_id("resume").click()
        expect(state).to_have_text("Running")
        expect(admin.get_by_test_id("queue-change")).to_contain_text(f"Last resumed by {ADMIN}")

        expect(banner).to_be_hidden()
        expect(submit).to_be_enabled()
    assert user.errors == []


def test_a_pause_needs_a_reason(stack, new_page):
    admin = new_page()
    sign_in(admin, stack, ADMIN, path="/admin")
    expect(admin.get_by_test_id("queue-state")).to_have_text("Running")
    admin.get_by_test_id("pause").click()
    expect(admin.get_by_test_id("message")).to_contain_text("Say why you pause the queue")
    expect(admin.get_by_test_id("queue-state")).to_have_text("Running")


def test_the_dashboard_counts_what_happened_and_lists_the_failures(stack, new_page):
    uid = fresh_uid("counted")
    for prompt in ("a fine video", "a broken video [fail]"):
        answer = stack.api("POST", "/api/generate/video", uid, json={"prompt": prompt})
        assert answer.status_code == 202, answer.text
    admin = new_page()
    sign_in(admin, stack, ADMIN, path="/admin")
    expect(admin.get_by_test_id("dashboard")).to_be_visible()
    # Refreshes by itself: the failure shows up once the worker has recorded it.
    failures = admin.get_by_test_id("failures")
    expect(failures).to_contain_text(uid)
    submitted = admin.locator('[data-testid="windows"] tr[data-metric="submitted"] td').first
    expect(submitted).not_to_have_text("0")
    failed = admin.locator('[data-testid="windows"] tr[data-metric="failed"]')
    expect(failed).to_contain_text("generation_failed")
    expect(admin.get_by_test_id("chart")).to_be_visible()

    admin.get_by_test_id("reconcile").click()
    expect(admin.get_by_test_id("reconcile-report")).to_contain_text("Scanned")
    assert admin.errors == []


# -- issue 22: the dashboard shows the state an action produced, and says so ---------------

STATES_SEEN = """() => {
  const state = document.querySelector('[data-testid="queue-state"]');
  window.statesSeen = [];
  new MutationObserver(() => window.statesSeen.push(state.textContent)).observe(state, {
    childList: true, characterData: true, subtree: true,
  });
}"""


def overviews_read(page, count: int) -> None:
    """Wait until the dashboard has read its overview `count` more times."""
    for _ in range(count):
        with page.expect_response(lambda r: "/api/admin/overview" in r.url, timeout=15_000):
            pass


def test_pause_and_resume_show_their_state_at_once_and_never_flip_back(stack, new_page):
    admin = new_page()
    sign_in(admin, stack, ADMIN, path="/admin")
    state = admin.get_by_test_id("queue-state")
    expect(state).to_have_text("Running")
    confirmation = admin.locator('[data-testid="message"] [role="status"]')
    with resumed_afterwards(stack):
        expect(admin.get_by_test_id("resume")).to_be_hidden()  # only the action that applies
        admin.evaluate(STATES_SEEN)
        reason = admin.get_by_test_id("queue-reason")
        reason.fill("provider incident")
        reason.press("Enter")  # Enter in the reason field submits
        expect(state).to_have_text("Paused")
        expect(confirmation).to_contain_text("The queue is paused")
        expect(state).to_be_focused()  # not <body>: the Pause button is gone
        expect(admin.get_by_test_id("pause")).to_be_hidden()
        expect(admin.get_by_test_id("resume")).to_be_visible()
        overviews_read(admin, 2)  # the refresh right after, and the next one
        expect(state).to_have_text("Paused")
        assert set(admin.evaluate("window.statesSeen")) == {"Paused"}
        expect(admin.get_by_test_id("queue-change")).to_contain_text("provider incident")
        expect(confirmation).to_contain_text("The queue is paused")  # not wiped by a refresh

        admin.evaluate(STATES_SEEN)
        reason.fill("incident over")
        admin.get_by_test_id("resume").click()
        expect(state).to_have_text("Running")
        expect(confirmation).to_contain_text("The queue is running again")
        expect(state).to_be_focused()
        overviews_read(admin, 2)
        assert set(admin.evaluate("window.statesSeen")) == {"Running"}
    assert admin.errors == []


def test_a_resume_of_a_running_queue_is_refused_and_not_recorded(stack):
    before = stack.api("GET", "/api/admin/overview?fresh=1", ADMIN).json()["queue"]
    answer = stack.api("POST", "/api/admin/queue/resume", ADMIN, json={"reason": "again"})
    assert answer.status_code == 409, answer.text
    assert answer.json()["code"] == "queue_unchanged"
    after = stack.api("GET", "/api/admin/overview?fresh=1", ADMIN).json()["queue"]
    assert after["lastChange"] == before["lastChange"]


def test_a_pause_during_an_outage_answers_an_operator_s_sentence(stack, new_page):
    from functions.errors import answer_for
    from shared.services.admin import QueueChangeFailed

    failed = answer_for(
        QueueChangeFailed("pause", "queue_unavailable", applied=False, recorded=False), None
    )
    body = {"success": False, "code": failed.code, "error": failed.message, **failed.fields}
    admin = new_page()
    # The queue's outage, as the api answers it (functions/errors.py's row).
    admin.route(
        "**/api/admin/queue/pause",
        lambda route: route.fulfill(status=failed.status, json=body, headers=failed.all_headers()),
    )
    sign_in(admin, stack, ADMIN, path="/admin")
    expect(admin.get_by_test_id("queue-state")).to_have_text("Running")
    admin.get_by_test_id("queue-reason").fill("outage")
    admin.get_by_test_id("pause").click()
    alert = admin.locator('[data-testid="message"] [role="alert"]')
    expect(alert).to_contain_text("The queue was not paused")
    expect(alert).to_contain_text("nothing was recorded")
    expect(alert).to_contain_text("Cloud Tasks")
    expect(alert).not_to_contain_text("creation")
    expect(admin.get_by_test_id("queue-state")).to_have_text("Running")
    expect(admin.get_by_test_id("queue-reason")).to_be_focused()
    expect(admin.get_by_test_id("queue-reason")).to_have_value("outage")  # kept, to try again


# -- issue 20: operator grants from the dashboard ------------------------------------------


def test_an_operator_grants_tokens_and_the_user_sees_them_with_the_reason(stack, new_page):
    uid = fresh_uid("granted")
    user = new_page()
    sign_in(user, stack, uid)
    expect(user.get_by_test_id("balance")).to_have_text("100")

    admin = new_page()
    sign_in(admin, stack, ADMIN, path="/admin")
    expect(admin.get_by_test_id("dashboard")).to_be_visible()
    grants = admin.locator('[data-testid="movements"] tr[data-metric="grant"] td').first
    admin.get_by_label("User id").fill(uid)
    admin.get_by_label("Tokens").fill("25")
    admin.get_by_label("Grant reason").fill("sorry for the outage")
    admin.get_by_test_id("grant-submit").click()
    confirmation = admin.locator('[data-testid="message"] [role="status"]')
    expect(confirmation).to_have_text(f"Granted 25 tokens to {uid}: their balance is now 125.")
    day = stack.api("GET", "/api/admin/overview?fresh=1", ADMIN).json()["movements"]
    expect(grants).to_have_text(str(day["grant"]["count"]))  # refreshed after the grant

    user.reload()
    expect(user.get_by_test_id("balance")).to_have_text("125")
    entry = user.locator('[data-testid="ledger"] li.grant').first
    expect(entry.locator(".amount")).to_have_text("+25")
    expect(entry.locator(".why")).to_have_text("granted: sorry for the outage")

    # A correction that would take the balance below zero is refused, says so, changes nothing.
    admin.get_by_label("Tokens").fill("-500")
    admin.get_by_label("Grant reason").fill("double refund")
    admin.get_by_test_id("grant-submit").click()
    alert = admin.locator('[data-testid="message"] [role="alert"]')
    expect(alert).to_contain_text("The balance is 125: a correction of -500 would take it below")
    expect(alert).to_contain_text("Nothing was changed.")
    expect(confirmation).to_have_text("")
    expect(admin.get_by_label("Tokens")).to_be_focused()
    user.reload()
    expect(user.get_by_test_id("balance")).to_have_text("125")
    expect(user.locator('[data-testid="ledger"] li')).to_have_count(2)  # starting grant + 25
    assert stack.api("GET", "/api/tokens", uid).json()["balance"] == 125
    assert admin.errors == [] and user.errors == []


def test_a_grant_retried_after_no_answer_is_applied_once(stack, new_page):
    uid = fresh_uid("retried")
    admin = new_page()
    sign_in(admin, stack, ADMIN, path="/admin")
    keys = []

    def lost_answer(route):
        # The grant reaches the api and is applied; its answer is lost on the way back.
        keys.append(route.request.headers["idempotency-key"])
        route.fetch()
        route.abort()

    admin.route("**/api/admin/grants", lost_answer)
    admin.get_by_label("User id").fill(uid)
    admin.get_by_label("Tokens").fill("7")
    admin.get_by_label("Grant reason").fill("goodwill")
    admin.get_by_test_id("grant-submit").click()
    alert = admin.locator('[data-testid="message"] [role="alert"]')
    expect(alert).to_contain_text("may or may not have been made")
    admin.unroute("**/api/admin/grants")

    def answered(route):
        keys.append(route.request.headers["idempotency-key"])
        route.continue_()

    admin.route("**/api/admin/grants", answered)
    admin.get_by_test_id("grant-submit").click()
    confirmation = admin.locator('[data-testid="message"] [role="status"]')
    expect(confirmation).to_contain_text("already done: nothing was moved twice")
    expect(confirmation).to_contain_text("their balance is now 107")
    assert len(keys) == 2 and keys[0] == keys[1]
    assert stack.api("GET", "/api/tokens", uid).json()["balance"] == 107
