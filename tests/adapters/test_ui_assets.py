"""The web UI's files (ADR 0036): served by convtrack itself, vendored files exactly as the
pinned npm packages ship them, and no page loading anything from another origin."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from litestar import Litestar
from litestar.testing import TestClient

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "adapters" / "http" / "ui"
VENDOR = UI / "static" / "vendor"
MANIFEST = json.loads((VENDOR / "MANIFEST.json").read_text(encoding="utf-8"))
FOREIGN = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


def test_every_vendored_file_is_the_pinned_packages_file_byte_for_byte() -> None:
    pins = json.loads((ROOT / "ui" / "package.json").read_text(encoding="utf-8"))["dependencies"]
    listed = {entry["file"] for entry in MANIFEST["files"]}
    on_disk = {p.name for p in VENDOR.iterdir() if p.is_file() and p.name != "MANIFEST.json"}
    assert listed == on_disk  # nothing added by hand, nothing missing
    for entry in MANIFEST["files"]:
        assert hashlib.sha256((VENDOR / entry["file"]).read_bytes()).hexdigest() == \
            entry["sha256"], f"{entry['file']} differs from {entry['package']} {entry['version']}"
        assert pins[entry["package"]] == entry["version"], entry["package"]
    assert set(MANIFEST["packages"]) == set(pins)


def test_the_ui_page_is_served_with_a_policy_that_admits_only_its_own_scripts(
        client: TestClient[Litestar]) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert not FOREIGN.search(page.text)
    script = client.get("/ui/static/vendor/preact.mjs")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert script.headers["x-content-type-options"] == "nosniff"
    assert client.get("/ui/static/../ui_routes.py").status_code == 404


def test_the_app_imports_nothing_but_its_own_modules_and_the_vendored_ones() -> None:
    for module in (UI / "static" / "app").rglob("*.js"):
        text = module.read_text(encoding="utf-8")
        for imported in re.findall(r"""^import .*? from "([^"]+)";""", text, re.MULTILINE):
            assert imported.startswith("./") or imported.startswith("../") or \
                imported in ("preact", "preact/hooks", "htm"), (module.name, imported)
        # Data reaches the page as text only: no markup built from strings, no code from them.
        code = re.sub(r"^\s*//.*$", "", text, flags=re.MULTILINE)
        for unsafe in ("innerHTML", "outerHTML", "dangerouslySetInnerHTML", "eval(",
                       "new Function"):
            assert unsafe not in code, (module.name, unsafe)


def test_the_openapi_viewer_at_schema_loads_only_convtrack_files(
        client: TestClient[Litestar]) -> None:
    viewer = client.get("/schema")
    assert viewer.status_code == 200
    assert not FOREIGN.search(viewer.text), "the viewer would load from a CDN"
    for asset in re.findall(r"""(?:src|href)=["'](/ui/static/[^"']+)""", viewer.text):
        assert client.get(asset).status_code == 200, asset
    assert client.get("/schema/openapi.json").status_code == 200
