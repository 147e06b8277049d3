"""The browser tag: insight.js's own tests (in node), `GET /insight.js` and the snippet
(docs/api.md "Collection")."""

from __future__ import annotations

import fnmatch
import gzip
import os
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.bootstrap import build_app, build_container
from adapters.http.tag_script_routes import SCRIPT, queue_stub
from adapters.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# Needs escaping in an attribute: the snippet must still point at exactly this.
PUBLIC_URL = 'https://ct.example/a&b"c'
ADMIN_TOKEN = "admin_tag_script_token"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient[Litestar]]:
    """The app on in-memory stores: nothing here reads the database."""
    container = build_container(Settings(public_url=PUBLIC_URL), ADMIN_TOKEN)
    try:
        with TestClient(build_app(container)) as test_client:
            yield test_client
    finally:
        container.close()


def test_the_tag_script_passes_its_unit_tests_in_node() -> None:
    node = shutil.which("node")
    # CI must run these: a missing node is a failure, never a skip.
    assert node, ("node (20 or later) is not on PATH: it runs tests/js/, the unit tests of "
                  "adapters/http/static/insight.js")
    # The JS tests load the snippet's real stub, so the queue they replay is the one handed out.
    env = {**os.environ, "CONVTRACK_SNIPPET_STUB": queue_stub("tag-1")}
    # The files, not the folder: node 21 and later read the arguments as glob patterns.
    tests = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "js").glob("*.test.mjs"))
    assert tests, "no tests/js/*.test.mjs"
    result = subprocess.run([node, "--test", *tests], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout and "# pass 0" not in result.stdout, result.stdout


def test_insight_js_is_javascript_served_without_credentials(
    client: TestClient[Litestar],
) -> None:
    response = client.get("/insight.js")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/javascript; charset=utf-8"
    assert response.content == SCRIPT


def test_insight_js_is_cacheable_for_an_hour_with_a_strong_etag(
    client: TestClient[Litestar],
) -> None:
    response = client.get("/insight.js")

    assert response.headers["cache-control"] == "public, max-age=3600"
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10  # strong: no W/
    assert client.get("/insight.js").headers["etag"] == etag


@pytest.mark.parametrize("form", ["{}", "W/{}", '"other", {}', "*"])
def test_a_browser_with_the_current_copy_gets_304_and_no_body(
    client: TestClient[Litestar], form: str,
) -> None:
    etag = client.get("/insight.js").headers["etag"]

    response = client.get("/insight.js", headers={"If-None-Match": form.format(etag)})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == "public, max-age=3600"


def test_a_browser_with_an_older_copy_gets_the_script(client: TestClient[Litestar]) -> None:
    response = client.get("/insight.js", headers={"If-None-Match": '"an-older-script"'})

    assert response.status_code == 200
    assert response.content == SCRIPT


def test_the_script_is_under_2_kb_gzipped() -> None:
    # At level 1, nginx's default and the least favourable: whatever compresses it, it fits.
    assert len(gzip.compress(SCRIPT, compresslevel=1)) < 2048


def test_the_script_ships_in_the_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["adapters"]

    assert any(fnmatch.fnmatch("http/static/insight.js", p) for p in patterns), patterns


def test_insight_js_is_described_in_docs_api_md_though_not_in_openapi(
    client: TestClient[Litestar],
) -> None:
    # A static asset, not a JSON operation: docs/api.md is where it is described.
    assert "/insight.js" not in client.get("/schema/openapi.json").json()["paths"]
    assert "### `GET /insight.js`" in (ROOT / "docs" / "api.md").read_text(encoding="utf-8")


def test_the_snippet_queues_calls_and_loads_the_script_async_from_the_public_url(
    client: TestClient[Litestar],
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    account = client.post("/v1/accounts", json={"name": "Shop"}, headers=admin).json()
    key = {"Authorization": f"Bearer {account['api_key']}"}
    tag_id = client.post("/v1/tags", json={"name": "shop"}, headers=key).json()["tag_id"]

    response = client.get(f"/v1/tags/{tag_id}/snippet", headers=key)

    assert response.status_code == 200
    assert f"<script>{queue_stub(tag_id)}</script>" in response.text
    assert ('<script async src="https://ct.example/a&amp;b&quot;c/insight.js"></script>'
            in response.text)
    # The queue is defined before the script can run, whichever arrives first.
    assert response.text.index("window.convtrack=") < response.text.index("<script async")


def test_a_tag_id_cannot_close_the_snippets_script_element() -> None:
    stub = queue_stub('</script><script>alert(1)//"')

    assert "</" not in stub and "<script" not in stub
    assert stub.endswith(
        r"""convtrack('init',"\u003c/script\u003e\u003cscript\u003ealert(1)//\"");""")
