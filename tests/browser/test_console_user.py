"""The user view in a real browser, against the whole local stack, as a person uses it."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.harness import ADMIN, fresh_uid, sign_in

pytestmark = pytest.mark.stack

SLOW = 30_000  # ms: a whole generation, poll included, on a busy 2-core machine


def submit(page, prompt: str, kind: str = "video") -> None:
    """Fill in the form as a person would and press its button."""
    page.get_by_label("Image" if kind == "image" else "Video", exact=True).check()
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_test_id("submit").click()


def made_through_the_api(stack, uid: str, kind: str, count: int) -> None:
    """`count` creations made directly (setting up a balance or a limit, not what is tested)."""
    for i in range(count):
        answer = stack.api("POST", f"/api/generate/{kind}", uid, json={"prompt": f"{kind} {i}"})
        assert answer.status_code in (200, 202), answer.text


def creation_card(page, kind: str):
    return page.locator(f'li.creation[data-kind="{kind}"]').first


def test_sign_in_shows_the_balance_and_the_grant(stack, new_page):
    page = new_page()
    uid = fresh_uid("signin")
    sign_in(page, stack, uid)
    expect(page.get_by_test_id("balance")).to_have_text("100")
    expect(page.get_by_test_id("ledger")).to_contain_text("+100")
    expect(page.get_by_test_id("history-empty")).to_be_visible()
    expect(page.locator("queue-status-banner")).to_be_hidden()
    assert page.errors == []


def test_a_video_reaches_draft_and_plays_in_the_page(stack, new_page):
    page = new_page()
    sign_in(page, stack, fresh_uid("video"))
    page.get_by_label("Prompt", exact=True).fill("a red fox running through snow")
    page.get_by_label("Duration").select_option("4")
    page.get_by_test_id("submit").click()
    expect(page.get_by_test_id("message")).to_contain_text("Video queued: 10 tokens charged")
    expect(page.get_by_test_id("balance")).to_have_text("90")

    card = creation_card(page, "video")
    expect(card).to_have_attribute("data-status", "draft", timeout=SLOW)
    expect(card.locator(".status")).to_have_text("Ready")
    video = card.locator("video")
    expect(video).to_be_visible()
    page.wait_for_function("v => v.readyState >= 1 && v.duration > 0", arg=video.element_handle())
    assert video.evaluate("v => v.duration") > 0
    video.evaluate("v => v.play()")  # muted: allowed without a user gesture
    page.wait_for_function("v => v.currentTime > 0", arg=video.element_handle())
    assert page.errors == []


def test_an_image_appears(stack, new_page):
    page = new_page()
    sign_in(page, stack, fresh_uid("image"))
    submit(page, "a lighthouse at dusk", "image")

    card = creation_card(page, "image")
    expect(card).to_have_attribute("data-status", "draft")
    image = card.locator("img")
    expect(image).to_be_visible()
    page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=image.element_handle())
    expect(page.get_by_test_id("balance")).to_have_text("99")
    assert page.errors == []


def test_cancel_before_the_generation_starts_refunds_the_balance(stack, new_page):
    page = new_page()
    sign_in(page, stack, fresh_uid("cancel"))
    with stack.gate.holding():  # the worker gets nothing: the video stays pending
        submit(page, "a video to cancel")
        expect(page.get_by_test_id("balance")).to_have_text("90")
        card = creation_card(page, "video")
        expect(card).to_have_attribute("data-status", "pending")
        card.get_by_role("button", name="Cancel").click()
        expect(card).to_have_attribute("data-status", "cancelled")
        expect(card).to_contain_text("Your 10 tokens were refunded")
        expect(page.get_by_test_id("balance")).to_have_text("100")
        expect(page.get_by_test_id("ledger")).to_contain_text("refund: cancelled")
        expect(card.get_by_role("button", name="Cancel")).to_be_hidden()
    assert page.errors == []


def test_history_is_there_after_a_reload(stack, new_page):
    page = new_page()
    uid = fresh_uid("history")
    sign_in(page, stack, uid)
    submit(page, "first image", "image")
    expect(creation_card(page, "image")).to_have_attribute("data-status", "draft")
    page.reload()  # the dev identity is remembered; the history comes from the api
    expect(page.get_by_test_id("user-name")).to_have_text(uid)
    expect(creation_card(page, "image")).to_contain_text("first image")
    expect(page.get_by_test_id("balance")).to_have_text("99")


def corrected(stack, uid: str, amount: int) -> None:
    """An operator's correction through the api (setting up a balance, not what is tested)."""
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"uid": uid, "amount": amount, "reason": "test setup"}
    answer = stack.api("POST", "/api/admin/grants", ADMIN, json=body, headers=headers)
    assert answer.status_code == 200, answer.text


def test_the_button_shows_the_price_and_that_is_what_is_charged(stack, new_page):
    page = new_page()
    sign_in(page, stack, fresh_uid("priced"))
    expect(page.get_by_test_id("balance")).to_have_text("100")
    button = page.get_by_test_id("submit")
    expect(button).to_have_text(re.compile(r"^Generate video · \d+ tokens?$"))
    video_price = int(re.search(r"· (\d+)", button.inner_text()).group(1))
    page.get_by_label("Image", exact=True).check()
    expect(button).to_have_text(re.compile(r"^Generate image · \d+ tokens?$"))
    image_price = int(re.search(r"· (\d+)", button.inner_text()).group(1))

    submit(page, "a priced video")
    expect(page.get_by_test_id("balance")).to_have_text(str(100 - video_price))
    submit(page, "a priced image", "image")
    expect(page.get_by_test_id("balance")).to_have_text(str(100 - video_price - image_price))
    debits = page.locator('[data-testid="ledger"] li.debit .amount')
    expect(debits).to_have_text([f"−{image_price}", f"−{video_price}"])
    assert page.errors == []


def test_a_short_balance_disables_the_button_and_says_why(stack, new_page):
    page = new_page()
    uid = fresh_uid("poor")
    corrected(stack, uid, -96)  # 100 - 96: 4 tokens
    sign_in(page, stack, uid)
    expect(page.get_by_test_id("balance")).to_have_text("4")
    button = page.get_by_test_id("submit")
    expect(button).to_have_text("Generate video · 10 tokens")
    expect(button).to_be_disabled()
    expect(page.get_by_test_id("form-note")).to_have_text("You have 4 tokens; a video costs 10.")
    page.get_by_label("Image", exact=True).check()
    expect(button).to_have_text("Generate image · 1 token")
    expect(button).to_be_enabled()
    expect(page.get_by_test_id("form-note")).to_have_text("")
    assert page.errors == []


def test_not_enough_tokens_is_said_and_nothing_is_charged(stack, new_page):
    page = new_page()
    uid = fresh_uid("stale")
    sign_in(page, stack, uid)
    expect(page.get_by_test_id("balance")).to_have_text("100")
    corrected(stack, uid, -95)  # spent elsewhere: the page still shows 100
    submit(page, "a video I cannot afford")
    expect(page.get_by_test_id("message")).to_contain_text(
        "Not enough tokens: this video costs 10 and your balance is 5. Nothing was charged."
    )
    expect(page.get_by_test_id("balance")).to_have_text("5")
    expect(page.get_by_test_id("submit")).to_be_disabled()  # the balance it learnt
    expect(page.get_by_test_id("form-note")).to_have_text("You have 5 tokens; a video costs 10.")


def test_too_many_videos_in_flight_is_said_and_nothing_is_charged(stack, new_page):
    page = new_page()
    uid = fresh_uid("busy")
    sign_in(page, stack, uid)
    with stack.gate.holding():  # three videos stay pending: the in-flight limit (3) is reached
        made_through_the_api(stack, uid, "video", 3)
        page.reload()
        expect(page.locator('li.creation[data-status="pending"]')).to_have_count(3)
        expect(page.get_by_test_id("balance")).to_have_text("70")
        submit(page, "one too many")
        expect(page.get_by_test_id("message")).to_contain_text(
            "You have as many videos in progress as allowed (3 of 3). Nothing was charged"
        )
        expect(page.get_by_test_id("balance")).to_have_text("70")
        held = page.locator('li.creation[data-status="pending"]')
        for creation_id in [card.get_attribute("data-id") for card in held.all()]:
            card = page.locator(f'li.creation[data-id="{creation_id}"]')
            card.get_by_role("button", name="Cancel").click()
            expect(card).to_have_attribute("data-status", "cancelled")
    expect(page.get_by_test_id("balance")).to_have_text("100")


def test_a_prompt_with_a_right_to_left_override_is_isolated(stack, new_page):
    """U+202E in a prompt reverses the prompt only: the card's other text reads as written."""
    uid = fresh_uid("bidi")
    prompt = "a cat \u202eexe.tac a"
    answer = stack.api("POST", "/api/generate/image", uid, json={"prompt": prompt})
    assert answer.status_code == 200, answer.text
    page = new_page()
    sign_in(page, stack, uid)
    shown = creation_card(page, "image").locator(".prompt")
    expect(shown).to_have_text(prompt)
    expect(shown).to_have_attribute("dir", "auto")
    assert shown.evaluate("e => getComputedStyle(e).unicodeBidi") == "isolate"
    assert page.errors == []


# -- issue 22: what the user view says and offers --------------------------------------------


def announcer(page):
    return page.get_by_test_id("announcer")


def test_cancel_is_offered_only_before_the_generation_starts(stack, new_page):
    page = new_page()
    sign_in(page, stack, fresh_uid("started"))
    with stack.gate.holding():
        submit(page, "a video that starts")
        card = creation_card(page, "video")
        expect(card).to_have_attribute("data-status", "pending")
        expect(card.get_by_role("button", name="Cancel")).to_be_visible()
        stack.gate.let_start(card.get_attribute("data-id"))  # started, its polls held
        expect(card).to_have_attribute("data-status", "processing", timeout=SLOW)
        expect(card.get_by_role("button", name="Cancel")).to_be_hidden()
        expect(card).to_contain_text("has started and is paid for, so it can no longer be")
        # Elapsed time, not a made-up percentage.
        expect(card.locator(".elapsed")).to_have_text(re.compile(r"^Generating for \d+:\d\d$"))
        assert "%" not in card.inner_text()
        expect(announcer(page)).to_contain_text("is generating")
    expect(card).to_have_attribute("data-status", "draft", timeout=SLOW)
    assert page.errors == []


def test_a_video_s_life_is_announced_and_the_queued_message_goes(stack, new_page):
    page = new_page()
    sign_in(page, stack, fresh_uid("told"))
    submit(page, "a heron taking off")
    card = creation_card(page, "video")
    info = page.locator('[data-testid="message"] [role="status"]')
    expect(info).to_contain_text("Video queued: 10 tokens charged")
    expect(card).to_be_focused()  # the result of Generate, not <body>
    expect(card).to_have_attribute("data-status", "draft", timeout=SLOW)
    expect(announcer(page)).to_have_attribute("aria-live", "polite")
    expect(announcer(page)).to_contain_text("“a heron taking off” is ready")
    expect(info).not_to_contain_text("Video queued")  # no longer true
    expect(info).to_contain_text("is ready")
    assert page.errors == []


def test_a_cancel_keeps_focus_on_its_card_and_links_the_refund(stack, new_page):
    page = new_page()
    sign_in(page, stack, fresh_uid("focus"))
    with stack.gate.holding():
        submit(page, "a video to cancel")
        card = creation_card(page, "video")
        expect(card).to_have_attribute("data-status", "pending")
        card.get_by_role("button", name="Cancel").click()
        expect(card).to_have_attribute("data-status", "cancelled")
        expect(card).to_be_focused()
        expect(announcer(page)).to_contain_text("was cancelled")
        refund = page.get_by_test_id("ledger").get_by_role("link", name="refund: cancelled")
        expect(refund).to_have_attribute("href", f"#{card.get_attribute('id')}")
        expect(refund.locator("xpath=..")).to_have_attribute("title", "code: cancelled")
    assert page.errors == []


def test_download_use_these_settings_and_retry(stack, new_page):
    page = new_page()
    sign_in(page, stack, fresh_uid("tools"))
    submit(page, "a lighthouse at dusk", "image")
    image = creation_card(page, "image")
    expect(image).to_have_attribute("data-status", "draft")
    download = image.get_by_role("link", name="Download image")
    # The api and its media are another origin than the console: the link's `download`
    # attribute is ignored there, so the link is the answer's downloadUrl, which the media
    # answers as an attachment.
    name = f"image-{image.get_attribute('data-id')}.png"
    src = image.locator("img").get_attribute("src")
    expect(download).to_have_attribute("href", f"{src}?download={name}")
    expect(download).to_have_attribute("download", "")  # the name is the server's
    saved = page.request.get(download.get_attribute("href"))
    assert saved.ok and saved.headers["content-disposition"] == f'attachment; filename="{name}"'

    page.get_by_label("Prompt", exact=True).fill("")
    page.get_by_label("Video", exact=True).check()
    image.get_by_role("button", name="Use these settings").click()
    expect(page.get_by_label("Image", exact=True)).to_be_checked()
    expect(page.get_by_label("Prompt", exact=True)).to_have_value("a lighthouse at dusk")
    expect(page.get_by_label("Prompt", exact=True)).to_be_focused()

    submit(page, "a storm that breaks [fail]")
    failed = page.locator('li.creation[data-kind="video"]').first
    expect(failed).to_have_attribute("data-status", "failed", timeout=SLOW)
    expect(failed.get_by_role("button", name="Use these settings")).to_be_visible()
    expect(page.get_by_test_id("balance")).to_have_text("99")  # refunded
    failed.get_by_role("button", name="Retry (10 tokens)").click()
    expect(page.locator('li.creation[data-kind="video"]')).to_have_count(2)
    expect(page.locator('li.creation[data-kind="video"]').first).to_contain_text(
        "a storm that breaks [fail]"
    )
