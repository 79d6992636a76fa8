"""Encryption of secrets at rest: wallet seeds, P2PK private keys, proof secrets, journaled outputs.

Values are sealed with AES-256-GCM under a key read from a key file. The file contains one or
more keys, one per line (base64url, 32 bytes). The first one seals and every one opens, so a new
key can be put in front while rows sealed under the old one stay readable until `nctool admin
secret-key rotate` re-seals them. A sealed value is text: ``nct1:<key id>:<base64url(nonce || ciphertext)>``.
The key id is the first 8 hex digits of the key's SHA-256; it names the key, it does not reveal it.

Values without the ``nct1:`` prefix are plaintext written before encryption existed; they are
read as they are, and the 0004 migration and `rotate` seal them.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "nct1:"
KEY_BYTES = 32
NONCE_BYTES = 12


class SecretKeyError(Exception):
    """The key file is missing or invalid, or a sealed value cannot be opened with the loaded keys."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def new_key_line() -> str:
    """Return a fresh random key, encoded as one line of a key file."""
    return _b64encode(secrets.token_bytes(KEY_BYTES))


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


@dataclass(frozen=True)
class Keyring:
    """Keys read from one key file; `keys[0]` seals, all of them open."""

    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise SecretKeyError("a keyring needs at least one key")

    @property
    def current_id(self) -> str:
        return key_id(self.keys[0])

    def seal(self, plaintext: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self.keys[0]).encrypt(nonce, plaintext.encode(), None)
        return f"{PREFIX}{self.current_id}:{_b64encode(nonce + sealed)}"

    def open(self, value: str) -> str:
        """Return the plaintext of a sealed value; plaintext from before encryption passes through."""
        if not is_sealed(value):
            return value
        try:
            kid, payload = value[len(PREFIX) :].split(":", 1)
            raw = _b64decode(payload)
        except ValueError as exc:
            raise SecretKeyError("a sealed value in the database is malformed") from exc
        for key in self.keys:
            if key_id(key) != kid:
                continue
            try:
                return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None).decode()
            except InvalidTag as exc:
                raise SecretKeyError(f"a value sealed under key {kid} failed authentication") from exc
        raise SecretKeyError(
            f"a value in the database is sealed under key {kid}, which NCTOOL_SECRET_KEY_FILE does not contain; "
            "add that key back to the file (any line after the first)"
        )

    def needs_reseal(self, value: str) -> bool:
        return not value.startswith(f"{PREFIX}{self.current_id}:")


def parse_key_file(text: str, source: str) -> Keyring:
    keys = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            key = _b64decode(line)
        except ValueError as exc:
            raise SecretKeyError(f"{source} line {number}: not base64url") from exc
        if len(key) != KEY_BYTES:
            raise SecretKeyError(f"{source} line {number}: a key is {KEY_BYTES} bytes, this one is {len(key)}")
        keys.append(key)
    if not keys:
        raise SecretKeyError(f"{source} contains no key; create one with `nctool admin secret-key generate {source}`")
    return Keyring(tuple(keys))


def load_key_file(path: Path) -> Keyring:
    try:
        text = path.read_text()
    except OSError as exc:
        raise SecretKeyError(
            f"cannot read the secret key file {path}: {exc.strerror}; "
            f"create one with `nctool admin secret-key generate {path}`"
        ) from exc
    return parse_key_file(text, str(path))


def write_key_file(path: Path, lines: list[str]) -> None:
    """Write the key file readable by its owner only, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# nctool secret keys: the first line encrypts, every line decrypts. Back this file up.\n")
        handle.write("".join(line + "\n" for line in lines))
    os.replace(temporary, path)


def generate_key_file(path: Path) -> Keyring:
    """Create a key file with one new key; raise SecretKeyError if the file exists."""
    if path.exists():
        raise SecretKeyError(
            f"{path} exists; nctool never overwrites a key file, because data sealed under it would become unreadable"
        )
    write_key_file(path, [new_key_line()])
    return load_key_file(path)


# The keyring of this process. The columns that hold secrets (see store/tables.py) seal and open
# through it, so every code path that reads or writes them encrypts without knowing it.
_keyring: Keyring | None = None


def install_keyring(keyring: Keyring | None) -> None:
    global _keyring
    _keyring = keyring


def active_keyring() -> Keyring:
    """Return this process's keyring, loading it from the settings on first use (CLI commands, scripts)."""
    global _keyring
    if _keyring is None:
        from nctool.config import get_settings
        from nctool.security.startup import key_file_path

        path = key_file_path(get_settings())
        if path is not None:
            _keyring = load_key_file(path)
    if _keyring is None:
        raise SecretKeyError(
            "no secret key is loaded, so secrets cannot be read or stored; set NCTOOL_SECRET_KEY_FILE "
            "(create the file with `nctool admin secret-key generate PATH`)"
        )
    return _keyring
