"""CONVTRACK_TLS_CERT / CONVTRACK_TLS_KEY: `convtrack serve` over HTTPS (the browser tests run it
so, tests/e2e/test_browser_collection.py); a bad pair refuses start-up in one paragraph."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.preflight import StartupError, check_tls
from adapters.settings import Settings
from tests.e2e.browser_site import make_certificate


def test_the_settings_are_read_and_https_becomes_the_default_public_url() -> None:
    settings = Settings.from_env({"CONVTRACK_TLS_CERT": "/c.pem", "CONVTRACK_TLS_KEY": "/k.pem",
                                  "CONVTRACK_PORT": "8443"})
    assert (settings.tls_cert, settings.tls_key) == ("/c.pem", "/k.pem")
    assert settings.base_url == "https://127.0.0.1:8443"
    assert Settings.from_env({}).base_url == "http://127.0.0.1:8000"


def test_a_certificate_and_its_key_pass_and_neither_means_plain_http(tmp_path: Path) -> None:
    pair = make_certificate(tmp_path)
    check_tls(str(pair.cert), str(pair.key))
    check_tls(None, None)


def test_one_without_the_other_or_a_mismatched_pair_refuses_to_start(tmp_path: Path) -> None:
    one, other = make_certificate(tmp_path / "one"), make_certificate(tmp_path / "other")
    with pytest.raises(StartupError, match="CONVTRACK_TLS_KEY is unset"):
        check_tls(str(one.cert), None)
    with pytest.raises(StartupError, match="CONVTRACK_TLS_CERT is unset"):
        check_tls(None, str(one.key))
    with pytest.raises(StartupError, match="not a readable PEM"):
        check_tls(str(one.cert), str(other.key))
    with pytest.raises(StartupError, match="not a readable PEM"):
        check_tls(str(tmp_path / "missing.pem"), str(one.key))
