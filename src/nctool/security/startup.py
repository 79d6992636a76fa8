"""Settings checks that run before nctool serves: authentication and the secret key."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from nctool.config import Settings
from nctool.security.secretbox import SecretKeyError, generate_key_file, load_key_file

# Development key file that `make run` creates; used when NCTOOL_SECRET_KEY_FILE is unset and the file exists.
DEV_KEY_FILE = Path("data/secret.key")


class UnsafeSettingsError(Exception):
    """The settings would serve money unsafely; the message names the setting to change."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def key_file_path(settings: Settings) -> Path | None:
    """Return the key file in force: NCTOOL_SECRET_KEY_FILE, else the development key when it exists."""
    if settings.secret_key_file is not None:
        return settings.secret_key_file
    return DEV_KEY_FILE if DEV_KEY_FILE.exists() else None


def ensure_dev_key_file() -> Path:
    """Create the development key file on first use, for `make run`; return its path."""
    if not DEV_KEY_FILE.exists():
        generate_key_file(DEV_KEY_FILE)
    return DEV_KEY_FILE


def check_serving_settings(settings: Settings) -> None:
    """Raise UnsafeSettingsError unless nctool may serve with these settings."""
    if settings.auth_disabled and not is_loopback(settings.host):
        raise UnsafeSettingsError(
            f"NCTOOL_AUTH_DISABLED=1 is allowed only on a loopback address, but NCTOOL_HOST is {settings.host}. "
            "Unset NCTOOL_AUTH_DISABLED and create API keys with `nctool admin api-key create`, "
            "or bind to 127.0.0.1 for local development."
        )
    path = key_file_path(settings)
    if path is None:
        raise UnsafeSettingsError(
            "NCTOOL_SECRET_KEY_FILE is not set. nctool encrypts wallet seeds, P2PK keys and proof secrets "
            "with this key. Create one with `nctool admin secret-key generate /etc/nctool/secret.key`, "
            "back it up apart from the database, and set NCTOOL_SECRET_KEY_FILE to its path "
            "(`make run` creates data/secret.key for development)."
        )
    try:
        load_key_file(path)
    except SecretKeyError as exc:
        raise UnsafeSettingsError(str(exc)) from exc
