"""The keys that sign member and click tokens: CONVTRACK_SECRET_KEY and CONVTRACK_SECRET_KEYS_OLD.

The first key signs, every key verifies (ADR 0030). Unset, the signing key is generated once
and kept in the data folder (`secret_key`, mode 0600), as the admin token is, so tokens outlive
a restart. A malformed value stops `convtrack serve` with one paragraph naming the setting
(ADR 0024), and never shows the value: it is a secret.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from adapters.preflight import StartupError
from adapters.settings import Settings
from application.member_tokens import MIN_KEY_BYTES

SECRET_KEY_SETTING = "CONVTRACK_SECRET_KEY"
OLD_KEYS_SETTING = "CONVTRACK_SECRET_KEYS_OLD"
KEY_FILE = "secret_key"
# Printable ASCII without spaces or commas (commas separate the old keys); the text's bytes are
# the HMAC key, so an operator can paste any generated secret as it is.
_KEY = re.compile(r"[!-+\--~]{%d,}" % MIN_KEY_BYTES)
_HOW = (f"A key is at least {MIN_KEY_BYTES} printable ASCII characters without spaces or "
        "commas, for instance the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`")


def ensure_secret_keys(settings: Settings) -> tuple[bytes, ...]:
    """The signing key then the old ones; the signing key is made in the data folder if unset."""
    current = settings.secret_key
    if current is None:
        current = _kept_key(settings.data_dir / KEY_FILE)
    return _parse(current, settings.secret_keys_old)


def configured_secret_keys(settings: Settings) -> tuple[bytes, ...] | None:
    """The configured keys, or None when CONVTRACK_SECRET_KEY is unset (nothing is written)."""
    if settings.secret_key is None:
        return None
    return _parse(settings.secret_key, settings.secret_keys_old)


def _parse(current: str, old: str | None) -> tuple[bytes, ...]:
    if not _KEY.fullmatch(current):
        raise StartupError(
            f"{SECRET_KEY_SETTING} is not a usable signing key ({_shape(current)}). {_HOW}; or "
            "leave it unset for convtrack to generate one in its data folder. Member cookies "
            "and click URLs signed with the key in use stop working when it changes: move "
            f"that key to {OLD_KEYS_SETTING} first.")
    keys = [current]
    for number, item in enumerate((old or "").split(","), start=1):
        item = item.strip()
        if not item:
            continue  # "a,b," and " a , b ": the commas only separate
        if not _KEY.fullmatch(item):
            raise StartupError(
                f"{OLD_KEYS_SETTING}: item {number} of the comma-separated list is not a usable "
                f"key ({_shape(item)}). {_HOW}. Old keys only verify tokens they signed "
                f"before {SECRET_KEY_SETTING} changed; remove the item once those have expired.")
        keys.append(item)
    return tuple(key.encode("ascii") for key in dict.fromkeys(keys))


def _shape(value: str) -> str:
    """What is wrong with a key, without showing it."""
    if len(value) < MIN_KEY_BYTES:
        return f"{len(value)} characters"
    return "it holds spaces, commas, or characters that are not printable ASCII"


def _kept_key(path: Path) -> str:
    """The key kept at `path`, made now (readable by this user only) if there is none."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under a temporary name, then linked into place: a second process
        # starting at the same moment reads either no file or the whole key, never half.
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            temporary.unlink()
    key = path.read_text().strip()
    if not _KEY.fullmatch(key):
        raise StartupError(
            f"{path} does not hold a usable signing key ({_shape(key)}), and "
            f"{SECRET_KEY_SETTING} is unset. Delete the file to have a new key generated "
            "(member cookies and click URLs signed with the old one stop working), or set "
            f"{SECRET_KEY_SETTING}.")
    return key
