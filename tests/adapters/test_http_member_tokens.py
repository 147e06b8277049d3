"""Member tokens over HTTP: `POST /v1/members/{id}/token` and the sync pixel `GET /m/{token}`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.bootstrap import Container, build_app
from adapters.http.member_routes import PIXEL
from adapters.preflight import StartupError
from adapters.secret_keys import ensure_secret_keys
from adapters.settings import Settings
from application.member_tokens import MemberTokens

GOOD_KEY = "k" * 32


def cookie_attributes(set_cookie: str) -> tuple[str, dict[str, str]]:
    """The cookie's `name=value` and its attributes by lower-cased name."""
    first, *rest = [part.strip() for part in set_cookie.split(";")]
    attributes = {}
    for part in rest:
        name, _, value = part.partition("=")
        attributes[name.lower()] = value
    return first, attributes


def new_token(client: TestClient[Litestar], admin_headers: dict[str, str],
              member_id: str = "member-1") -> dict[str, str]:
    response = client.post(f"/v1/members/{member_id}/token", headers=admin_headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_admin_token_gets_a_token_and_sync_url_for_any_member_id(
    client: TestClient[Litestar], admin_headers: dict[str, str], pg_container: Container
) -> None:
    body = new_token(client, admin_headers, "never-seen-before")

    assert set(body) == {"token", "sync_url", "expires_at"}
    assert urlsplit(body["sync_url"]).path == f"/m/{body['token']}"
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=389) < expires_at - datetime.now(UTC) <= timedelta(days=390)
    tokens = MemberTokens(pg_container.secret_keys)
    assert tokens.verify(body["token"], datetime.now(UTC)) == "never-seen-before"


def test_an_account_key_cannot_get_a_member_token_and_no_key_is_401(
    client: TestClient[Litestar], admin_headers: dict[str, str]
) -> None:
    account = client.post("/v1/accounts", json={"name": "A"}, headers=admin_headers).json()
    key = {"Authorization": f"Bearer {account['api_key']}"}

    assert client.post("/v1/members/m1/token", headers=key).status_code == 403
    assert client.post("/v1/members/m1/token").status_code == 401


def test_a_member_id_that_is_no_identifier_is_422_naming_it(
    client: TestClient[Litestar], admin_headers: dict[str, str]
) -> None:
    response = client.post(f"/v1/members/{'m' * 201}/token", headers=admin_headers)

    assert response.status_code == 422
    assert response.json()["field"] == "member_id"


def test_the_sync_pixel_sets_the_member_cookie_for_as_long_as_the_token_lasts(
    client: TestClient[Litestar], admin_headers: dict[str, str]
) -> None:
    body = new_token(client, admin_headers)

    pixel = client.get(urlsplit(body["sync_url"]).path)

    assert pixel.status_code == 200
    assert pixel.headers["content-type"] == "image/gif"
    assert pixel.headers["cache-control"] == "no-store"
    assert pixel.content == PIXEL and len(PIXEL) == 43
    value, attributes = cookie_attributes(pixel.headers["set-cookie"])
    assert value == f"ct_mid={body['token']}"
    assert {"secure", "httponly"} <= set(attributes)
    assert (attributes["samesite"], attributes["path"]) == ("None", "/")
    max_age = int(attributes["max-age"])
    assert timedelta(days=389) < timedelta(seconds=max_age) <= timedelta(days=390)


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
    lambda t: "bWVtYmVyLTI" + t[t.index("."):],
    lambda t: "not-a-token",
], ids=["signature", "member", "garbage"])
def test_a_tampered_sync_token_gets_the_same_gif_without_a_cookie(
    client: TestClient[Litestar], admin_headers: dict[str, str], tamper: object
) -> None:
    token = new_token(client, admin_headers)["token"]
    assert callable(tamper)

    pixel = client.get(f"/m/{tamper(token)}")

    assert (pixel.status_code, pixel.content) == (200, PIXEL)
    assert pixel.headers["cache-control"] == "no-store"
    assert "set-cookie" not in pixel.headers


def test_a_token_of_another_deployments_key_sets_no_cookie(
    client: TestClient[Litestar]
) -> None:
    foreign = MemberTokens([b"f" * 32]).issue("member-1", datetime.now(UTC))

    assert "set-cookie" not in client.get(f"/m/{foreign.token}").headers


def test_a_token_signed_with_an_old_key_still_syncs_after_rotation(
    pg_container: Container, admin_headers: dict[str, str]
) -> None:
    old = MemberTokens([b"o" * 32]).issue("member-1", datetime.now(UTC))
    pg_container.secret_keys = (b"n" * 32, b"o" * 32)
    with TestClient(build_app(pg_container)) as rotated:
        pixel = rotated.get(f"/m/{old.token}")

    assert pixel.headers["set-cookie"].startswith(f"ct_mid={old.token};")


def test_the_signing_key_is_generated_once_in_the_data_folder_readable_by_its_owner_only(
    tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data")

    first = ensure_secret_keys(settings)
    again = ensure_secret_keys(settings)

    assert first == again and len(first) == 1 and len(first[0]) >= 32
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["secret_key"]


def test_configured_keys_sign_then_verify_in_order_and_nothing_is_written(
    tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, secret_key=GOOD_KEY,
                        secret_keys_old=f" {'o' * 40} ,{'p' * 32},")

    assert ensure_secret_keys(settings) == (GOOD_KEY.encode(), b"o" * 40, b"p" * 32)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("settings, named", [
    (Settings(secret_key="too-short"), "CONVTRACK_SECRET_KEY"),
    (Settings(secret_key="k" * 31 + " "), "CONVTRACK_SECRET_KEY"),
    (Settings(secret_key="k" * 31 + "é"), "CONVTRACK_SECRET_KEY"),
    (Settings(secret_key=GOOD_KEY, secret_keys_old="o" * 32 + ",short"),
     "CONVTRACK_SECRET_KEYS_OLD: item 2"),
], ids=["short", "space", "non-ascii", "old-short"])
def test_a_malformed_key_refuses_to_start_naming_the_setting_and_never_showing_the_value(
    settings: Settings, named: str, tmp_path: Path
) -> None:
    with pytest.raises(StartupError) as refused:
        ensure_secret_keys(replace(settings, data_dir=tmp_path))

    message = str(refused.value)
    assert named in message
    secrets = [settings.secret_key, *(settings.secret_keys_old or "").split(",")]
    assert not [secret for secret in secrets if secret and secret in message]
