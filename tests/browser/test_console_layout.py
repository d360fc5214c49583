"""The console on a phone and a laptop (issue 22): no horizontal overflow at 390×844 on `/`
and `/admin` (a 120-character prompt without spaces, the 32-character ids of the latest
failures), the reason's placeholder whole at 1024 and 390, and every control at least 44 px
on a touch screen."""

from __future__ import annotations

import contextlib

import pytest
from playwright.sync_api import expect

from tests.browser.harness import ADMIN, fresh_uid, sign_in
from tests.waiting import wait_for

pytestmark = pytest.mark.stack

PHONE = {"width": 390, "height": 844}
LONG_PROMPT = "a" * 60 + "b" * 60  # 120 characters, no space to break at

WIDTH = "() => ({page: document.documentElement.scrollWidth, view: window.innerWidth})"
# The placeholder's width in the input's own font, against the room the input gives it.
PLACEHOLDER_FITS = """input => {
  const style = getComputedStyle(input);
  const context = document.createElement("canvas").getContext("2d");
  context.font = style.font;
  const text = context.measureText(input.placeholder).width;
  const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return {text, room};
}"""
# Controls a finger must hit: buttons, selects, inputs, the kind radios (through their
# label), links that stand alone (not a link inside a sentence).
TARGETS = """() => [...document.querySelectorAll(
    'button, select, input:not([type=radio]), fieldset.kind label, a.button, .who a, .ledger a'
  )].filter(e => e.checkVisibility()).map(e => {
    const r = e.getBoundingClientRect();
    return {what: e.outerHTML.slice(0, 80), width: r.width, height: r.height};
  })"""


@contextlib.contextmanager
def phone(browser, touch: bool = True, viewport=PHONE):
    context = browser.new_context(viewport=viewport, has_touch=touch, is_mobile=touch)
    try:
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(f"uncaught: {exc}"))
        yield page
    finally:
        context.close()


def a_failure_listed(stack) -> None:
    uid = fresh_uid("long-ids")
    made = stack.api("POST", "/api/generate/video", uid, json={"prompt": "gone [fail]"})
    assert made.status_code == 202, made.text
    creation_id = made.json()["creationId"]
    wait_for(
        lambda: (
            stack.api("GET", f"/api/creations/{creation_id}", uid).json()["creation"]["status"]
            == "failed"
        ),
        timeout=60,
        interval=0.5,
    )


def no_overflow(page) -> dict:
    """A mobile browser widens its layout viewport to the content (innerWidth grows with
    it): the page is measured against the phone's 390 px."""
    size = page.evaluate(WIDTH)
    assert max(size.values()) <= PHONE["width"], f"{page.url}: {size} at {PHONE['width']} px"
    return size


def test_the_user_view_fits_a_390_px_phone(stack, browser):
    uid = fresh_uid("phone")
    made = stack.api("POST", "/api/generate/image", uid, json={"prompt": LONG_PROMPT})
    assert made.status_code == 200, made.text
    with phone(browser) as page:
        sign_in(page, stack, uid)
        card = page.locator("li.creation").first
        expect(card.locator(".prompt")).to_have_text(LONG_PROMPT)
        expect(card).to_have_attribute("data-status", "draft")
        print("/ at 390:", no_overflow(page))
        # A new creation's card is below the form and the tokens: brought into view, focused.
        page.get_by_label("Image", exact=True).check()
        page.get_by_label("Prompt", exact=True).fill("a second one")
        page.get_by_test_id("submit").click()
        new = page.locator("li.creation", has_text="a second one")
        expect(new).to_be_focused()
        expect(new).to_be_in_viewport()
        assert page.errors == []


def test_the_dashboard_fits_a_390_px_phone(stack, browser):
    a_failure_listed(stack)
    with phone(browser) as page:
        sign_in(page, stack, ADMIN, path="/admin")
        rows = page.locator('[data-testid="failures"] tbody tr')
        expect(rows.first).to_be_visible()
        expect(page.get_by_test_id("chart")).to_be_visible()
        print("/admin at 390:", no_overflow(page))
        assert page.errors == []


@pytest.mark.parametrize("width", [1024, 390])
def test_the_reason_s_placeholder_is_whole(stack, browser, width):
    with phone(browser, touch=False, viewport={"width": width, "height": 844}) as page:
        sign_in(page, stack, ADMIN, path="/admin")
        reason = page.get_by_test_id("queue-reason")
        expect(reason).to_be_visible()
        fit = reason.evaluate(PLACEHOLDER_FITS)
        assert fit["text"] <= fit["room"], f"at {width}: {fit}"


@pytest.mark.parametrize("path", ["/", "/admin"])
def test_tap_targets_are_44_px_on_a_touch_screen(stack, browser, path):
    uid = ADMIN if path == "/admin" else fresh_uid("finger")
    if path == "/":
        made = stack.api("POST", "/api/generate/image", uid, json={"prompt": "a small thing"})
        assert made.status_code == 200, made.text
    with phone(browser) as page:
        sign_in(page, stack, uid, path=path)
        assert page.evaluate("matchMedia('(pointer: coarse)').matches")
        if path == "/":
            expect(page.locator("li.creation .reuse")).to_be_visible()
        else:
            expect(page.get_by_test_id("dashboard")).to_be_visible()
        small = [t for t in page.evaluate(TARGETS) if t["height"] < 44 or t["width"] < 44]
        assert small == [], small
