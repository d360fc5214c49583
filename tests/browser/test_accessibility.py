"""axe-core (web/vendor/axe.min.js, pinned in web/package-lock.json, loaded from the console's
own origin, which its Content-Security-Policy allows) finds no violation on any page: the
user view signed out and with creations, the dashboard signed out, refused and shown."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.harness import ADMIN, fresh_uid, sign_in

pytestmark = pytest.mark.stack

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5),
  }));
}"""


def violations(page, console) -> list[dict]:
    page.add_script_tag(url=f"{console.url}/vendor/axe.min.js")
    page.wait_for_function("() => typeof window.axe === 'object'")
    return page.evaluate(AXE_RUN)


def signed_out(page, console, path: str) -> None:
    page.goto(console.url + path)
    expect(page.get_by_label("Dev identity")).to_be_visible()


@pytest.mark.parametrize("path", ["/", "/admin"])
def test_no_violation_signed_out(stack, new_page, path):
    page = new_page()
    signed_out(page, stack, path)
    found = violations(page, stack)
    print(f"{path} signed out: {len(found)} violations")
    assert found == []


def test_no_violation_in_the_user_view_with_creations(stack, new_page):
    uid = fresh_uid("axe")
    for kind, prompt in (("image", "a lighthouse at dusk"), ("video", "a storm [fail]")):
        made = stack.api("POST", f"/api/generate/{kind}", uid, json={"prompt": prompt})
        assert made.status_code in (200, 202), made.text
    page = new_page()
    sign_in(page, stack, uid)
    expect(page.locator('li.creation[data-status="draft"] img')).to_be_visible()
    expect(page.locator('li.creation[data-status="failed"]')).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("ledger")).to_contain_text("refund")
    found = violations(page, stack)
    print(f"/ signed in: {len(found)} violations")
    assert found == []


def test_no_violation_on_the_dashboard(stack, new_page):
    page = new_page()
    sign_in(page, stack, ADMIN, path="/admin")
    expect(page.get_by_test_id("dashboard")).to_be_visible()
    expect(page.get_by_test_id("queue-state")).not_to_be_empty()
    found = violations(page, stack)
    print(f"/admin: {len(found)} violations")
    assert found == []


def test_no_violation_on_the_refusal(stack, new_page):
    page = new_page()
    sign_in(page, stack, fresh_uid("not-an-operator"), path="/admin")
    expect(page.get_by_test_id("refusal")).to_be_visible()
    found = violations(page, stack)
    print(f"/admin refused: {len(found)} violations")
    assert found == []
