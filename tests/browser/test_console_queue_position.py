"""A video waiting for its start shows its place in line (issue 21), on a stack of its own
whose start queue is paced at one start a minute (VEO_STARTS_PER_MINUTE), so that the
estimate is a minute per video ahead; the worker's deliveries are held, so nothing starts
while the test looks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.harness import Console, fresh_uid, running_console, sign_in

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def slow_stack(tmp_path_factory) -> Iterator[Console]:
    settings = {"VEO_STARTS_PER_MINUTE": "1"}
    with running_console(tmp_path_factory.mktemp("slow-starts"), settings) as console:
        yield console


def test_a_second_video_shows_who_is_ahead_and_when_it_starts(slow_stack, new_page):
    page = new_page()
    sign_in(page, slow_stack, fresh_uid("waiting"))
    with slow_stack.gate.holding():  # neither video starts while the test looks
        page.get_by_label("Prompt", exact=True).fill("the first video")
        page.get_by_test_id("submit").click()
        first = page.locator("li.creation", has_text="the first video")
        expect(first).to_have_attribute("data-status", "pending")
        page.get_by_label("Prompt", exact=True).fill("the second video")
        page.get_by_test_id("submit").click()
        second = page.locator("li.creation", has_text="the second video")
        expect(second).to_have_attribute("data-status", "pending")

        expect(first.locator(".position")).to_have_text("You are next, starts in a few seconds")
        expect(second.locator(".position")).to_have_text("1 ahead of you, starts in about a minute")

        # The first one leaves the line: the second is next.
        first.get_by_role("button", name="Cancel").click()
        expect(first).to_have_attribute("data-status", "cancelled")
        expect(first.locator(".position")).to_be_hidden()
        expect(second.locator(".position")).to_have_text("You are next, starts in a few seconds")

        # An image never waits in line: no position.
        page.get_by_label("Image", exact=True).check()
        page.get_by_label("Prompt", exact=True).fill("an image")
        page.get_by_test_id("submit").click()
        image = page.locator('li.creation[data-kind="image"]')
        expect(image).to_have_attribute("data-status", "draft")
        expect(image.locator(".position")).to_be_hidden()
    assert page.errors == []
