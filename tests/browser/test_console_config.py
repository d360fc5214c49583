"""The console's runtime configuration and its server: devtools/web_server.py serves the
pages, /admin and config.json, and nothing it should not; the Firebase web SDK is loaded in
firebase mode only, from web/vendor, and nothing is fetched from another host."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from devtools.web_server import WebServer

FIREBASE = {
    "apiKey": "AIzaSyTEST-not-a-real-key-000000000000",
    "authDomain": "demo-creator.firebaseapp.com",
    "projectId": "demo-creator",
    "appId": "1:1234567890:web:0123456789abcdef",
}


@pytest.fixture(scope="module")
def dev_console() -> Iterator[WebServer]:
    with WebServer(0, "http://127.0.0.1:9") as server:  # an api that never answers
        yield server


@pytest.fixture(scope="module")
def firebase_console() -> Iterator[WebServer]:
    config = {"authMode": "firebase", "firebase": FIREBASE}
    with WebServer(0, "https://api.example.test", config=config) as server:
        yield server


def test_the_server_serves_the_pages_the_config_and_nothing_else(dev_console):
    base = dev_console.url
    page = httpx.get(base + "/")
    assert page.status_code == 200 and "<queue-status-banner" in page.text
    admin = httpx.get(base + "/admin")
    assert admin.status_code == 200 and "Operator dashboard" in admin.text
    script = httpx.get(base + "/queue-status-banner.js")
    assert script.headers["content-type"].startswith("text/javascript")
    config = httpx.get(base + "/config.json").json()
    assert config["apiBaseUrl"] == "http://127.0.0.1:9" and config["authMode"] == "dev"
    for hidden in ("/package.json", "/vendor.mjs", "/node_modules/", "/.gitignore", "/vendor/"):
        assert httpx.get(base + hidden).status_code == 404, hidden
    assert httpx.get(base + "/../README.md").status_code in (400, 404)


def hosts_requested(page) -> list[str]:
    hosts: list[str] = []
    page.on("request", lambda request: hosts.append(request.url))
    return hosts


def test_firebase_mode_loads_the_vendored_sdk_and_offers_its_sign_in(firebase_console, new_page):
    page = new_page()
    requested = hosts_requested(page)
    page.goto(firebase_console.url + "/")
    expect(page.get_by_role("button", name="Sign in with Google")).to_be_visible()
    expect(page.get_by_label("Email")).to_be_visible()
    expect(page.get_by_label("Dev identity")).to_have_count(0)
    assert f"{firebase_console.url}/vendor/firebase-auth.js" in requested
    assert f"{firebase_console.url}/vendor/firebase-app.js" in requested
    origin = urlsplit(firebase_console.url).netloc
    elsewhere = [url for url in requested if urlsplit(url).netloc not in (origin, "")]
    # Only the api (its health, for the banner) may be asked: no CDN, no Google host.
    assert all(urlsplit(url).netloc == "api.example.test" for url in elsewhere), elsewhere
    assert page.errors == []


def test_dev_mode_never_loads_the_firebase_sdk(dev_console, new_page):
    page = new_page()
    requested = hosts_requested(page)
    page.goto(dev_console.url + "/")
    expect(page.get_by_label("Dev identity")).to_be_visible()
    page.goto(dev_console.url + "/admin")
    expect(page.get_by_label("Dev identity")).to_be_visible()
    assert not [url for url in requested if "firebase" in url]


def test_every_answer_carries_a_strict_csp_that_forbids_framing(dev_console):
    base = dev_console.url
    for path in ("/", "/admin", "/config.json", "/app.js", "/nowhere"):
        headers = httpx.get(base + path).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp, path
        assert "default-src 'none'" in csp and "script-src 'self';" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "connect-src 'self' http://127.0.0.1:9;" in csp  # the api, nothing else
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"


def test_firebase_mode_s_csp_allows_its_sign_in_hosts_only(firebase_console):
    csp = httpx.get(firebase_console.url + "/").headers["content-security-policy"]
    assert "frame-src https://demo-creator.firebaseapp.com;" in csp
    assert "https://identitytoolkit.googleapis.com" in csp
    assert "connect-src 'self' https://api.example.test https://" in csp


@pytest.mark.parametrize("path", ["/", "/admin"])
def test_the_console_runs_under_its_csp_without_a_violation(dev_console, new_page, path):
    page = new_page()
    page.add_init_script(
        "window.violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " (e) => window.violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    page.goto(dev_console.url + path)
    page.wait_for_load_state("load")
    page.wait_for_function("() => customElements.get('queue-status-banner') !== undefined "
                           "|| document.querySelector('[data-testid=pause]') !== null")  # fmt: skip
    assert page.evaluate("window.violations") == []
    assert [e for e in page.errors if "Content Security Policy" in e] == []
