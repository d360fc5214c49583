"""web/vendor: the third-party browser files are exactly what web/vendor.mjs copied from the
packages pinned in web/package-lock.json, with their licenses, and load nothing from a CDN.
(No browser needed.) `make web-vendor` regenerates them."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"
MANIFEST = json.loads((WEB / "vendor" / "manifest.json").read_text())
LOCK = json.loads((WEB / "package-lock.json").read_text())
REMOTE_IMPORT = re.compile(r"""\b(?:from|import)\s*\(?\s*["']https?://""")


def test_each_vendored_file_is_the_pinned_package_s_as_recorded():
    assert MANIFEST["files"], "web/vendor/manifest.json lists no file"
    for entry in MANIFEST["files"]:
        data = (WEB / "vendor" / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
        pinned = LOCK["packages"][f"node_modules/{entry['package']}"]["version"]
        assert entry["version"] == pinned, f"{entry['file']}: run make web-vendor"


def test_nothing_is_loaded_from_elsewhere_at_run_time():
    pages = [*WEB.glob("*.html"), *WEB.glob("*.js"), *(WEB / "vendor").glob("*.js")]
    for path in pages:
        text = path.read_text()
        assert not REMOTE_IMPORT.search(text), f"{path.name} imports from another host"
        assert not re.search(r"""<script[^>]+src=["']https?://""", text), path.name


def test_every_vendored_file_has_its_license():
    licenses = (WEB / "vendor" / "LICENSES.md").read_text()
    for entry in MANIFEST["files"]:
        assert f"| {entry['file']} | {entry['package']} | {entry['version']} |" in licenses
    assert "MIT License" in licenses and "Apache License" in licenses
