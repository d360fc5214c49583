"""The screenshots in docs/screenshots/, taken from the real local stack (`make screenshots`):

user-view-banner.png   a user's console while an operator has paused the queue: the
                       banner, the video button disabled, a finished video and image, a
                       failed and a cancelled video, both refunded
user-view-phone.png    the same console on a 390×844 touch screen (nothing wider than the
                       phone, 44 px controls)
dashboard.png          the operator dashboard at that moment: the queue paused (who, when,
                       why), the last hour's figures and chart, a video stuck (its worker
                       held back for a minute), the latest failures

python -m tests.browser.screenshots [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.harness import ADMIN, Console, chromium, running_console, sign_in
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
USER = "maya"
# A creation is stuck once untouched this long (the least the api accepts: a poll's 60 s
# heartbeat + POLL_MAX_SECONDS); the script waits that long for one.
STALE_AFTER_SECONDS = 62
VIEWPORT = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def creation(console: Console, uid: str, creation_id: str) -> dict:
    return console.api("GET", f"/api/creations/{creation_id}", uid).json()["creation"]


def submit(console: Console, uid: str, kind: str, prompt: str, **options) -> str:
    answer = console.api("POST", f"/api/generate/{kind}", uid, json={"prompt": prompt, **options})
    assert answer.status_code in (200, 202), answer.text
    return answer.json()["creationId"]


def settled(console: Console, uid: str, creation_id: str) -> dict:
    return wait_for(
        lambda: (c := creation(console, uid, creation_id))["status"] in ("draft", "failed") and c,
        timeout=60,
        interval=0.2,
    )


def some_activity(console: Console) -> None:
    """A user's history, and a little traffic from others for the dashboard's figures."""
    with console.gate.holding():  # kept pending, so that it can be cancelled
        held = submit(console, USER, "video", "a paper boat on a rainy street")
        answer = console.api("POST", f"/api/creations/{held}/cancel", USER)
        assert answer.status_code == 200, answer.text
    made = [
        submit(console, USER, "video", "a red fox running through snow", durationSeconds=4),
        submit(console, USER, "image", "a lighthouse at dusk", aspectRatio="4:3"),
        submit(console, USER, "video", "a timelapse of a city at night [fail]"),
    ]
    others = [
        (uid, submit(console, uid, "video", prompt))
        for uid, prompt in (
            ("sam", "waves breaking on black sand"),
            ("lee", "a hummingbird in slow motion"),
            ("lee", "a glitching neon sign [fail]"),
        )
    ]
    for creation_id in made:
        settled(console, USER, creation_id)
    for uid, creation_id in others:
        settled(console, uid, creation_id)


def a_stuck_video(console: Console) -> None:
    """A video whose start is never delivered (the gate answers 503), until it is stuck."""
    creation_id = submit(console, "kim", "video", "northern lights over a frozen lake")

    def listed() -> bool:
        overview = console.api("GET", "/api/admin/overview", ADMIN).json()
        return any(s["creationId"] == creation_id for s in overview.get("stuck", []))

    wait_for(listed, timeout=STALE_AFTER_SECONDS + 60, interval=2)


def take(console: Console, out: Path) -> list[Path]:
    reason = "Veo quota incident: holding new videos until the provider recovers"
    answer = console.api("POST", "/api/admin/queue/pause", ADMIN, json={"reason": reason})
    assert answer.status_code == 200, answer.text
    shots = [out / "user-view-banner.png", out / "user-view-phone.png", out / "dashboard.png"]
    with chromium() as browser:
        user = browser.new_context(viewport=VIEWPORT).new_page()
        sign_in(user, console, USER)
        expect(user.locator("queue-status-banner")).to_be_visible(timeout=15_000)
        expect(user.get_by_test_id("submit")).to_be_disabled()
        expect(user.locator('li.creation[data-status="draft"] video')).to_have_count(1)
        user.wait_for_function(
            "() => [...document.querySelectorAll('video')].every(v => v.readyState >= 2)"
            " && [...document.images].every(i => i.complete && i.naturalWidth > 0)",
            timeout=15_000,
        )
        user.get_by_label("Prompt", exact=True).fill("a drone shot over a glacier")
        user.screenshot(path=str(shots[0]), full_page=True)

        touch = {"viewport": PHONE, "has_touch": True, "is_mobile": True}
        phone = browser.new_context(**touch).new_page()
        sign_in(phone, console, USER)
        expect(phone.locator("queue-status-banner")).to_be_visible(timeout=15_000)
        expect(phone.locator('li.creation[data-status="draft"] video')).to_have_count(1)
        phone.wait_for_function(
            "() => [...document.querySelectorAll('video')].every(v => v.readyState >= 2)"
            " && [...document.images].every(i => i.complete && i.naturalWidth > 0)",
            timeout=15_000,
        )
        phone.screenshot(path=str(shots[1]), full_page=True)

        admin = browser.new_context(viewport=VIEWPORT).new_page()
        sign_in(admin, console, ADMIN, path="/admin")
        expect(admin.get_by_test_id("queue-state")).to_have_text("Paused", timeout=15_000)
        expect(admin.get_by_test_id("failures")).to_contain_text("lee", timeout=15_000)
        expect(admin.get_by_test_id("stuck")).to_contain_text("kim", timeout=15_000)
        admin.screenshot(path=str(shots[2]), full_page=True)
    console.api("POST", "/api/admin/queue/resume", ADMIN, json={"reason": "screenshots taken"})
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="screenshots-stack-") as state,
        running_console(Path(state), {"STALE_AFTER_SECONDS": str(STALE_AFTER_SECONDS)}) as console,
    ):
        some_activity(console)
        with console.gate.holding():
            a_stuck_video(console)
            shots = take(console, args.out)
    for shot in shots:
        print(f"wrote {shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
