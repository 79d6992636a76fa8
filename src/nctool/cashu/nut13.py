"""NUT-13 deterministic secrets and blinding factors, derived from a wallet seed.

A wallet that derives every proof secret and blinding factor `r` from one seed and a per-keyset
counter can restore its ecash from that seed (NUT-09 restore). The method depends on the keyset id's
version byte, as NUT-13 on the cashubtc/nuts main branch (July 2026) defines it:

    00  BIP32 private keys at m/129372'/0'/{keyset_id_int}'/{counter}'/0 (secret) and .../1 (r),
        where keyset_id_int = int(keyset_id, 16) mod (2**31 - 1)
    01  HMAC-SHA256(seed, "Cashu_KDF_HMAC_SHA256" || keyset_id bytes || u64_be(counter) || type),
        with type 0x00 for the secret and 0x01 for r, and r reduced mod the secp256k1 order

Any other version raises ValueError. The functions do no I/O and never log, and no error message
contains the seed, because the seed controls all of the wallet's ecash.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import unicodedata

from coincurve import PrivateKey

__all__ = [
    "derive_blinding_factor",
    "derive_secret",
    "mnemonic_to_seed",
    "new_seed",
]

# Length in bytes of a BIP39 seed, and of the seeds that new_seed generates.
_SEED_LENGTH = 64

# Order n of the secp256k1 group. Valid private keys and blinding factors are 1..n-1.
_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

_VERSION_BIP32 = "00"
_VERSION_HMAC_SHA256 = "01"
# Keyset id lengths in bytes, version byte included (NUT-02).
_KEYSET_ID_LENGTHS = {_VERSION_BIP32: 8, _VERSION_HMAC_SHA256: 33}
_HEX_RE = re.compile(r"[0-9a-fA-F]+")

# The derivation type is the last BIP32 path index for version 00 and the last message byte for 01.
_SECRET = 0
_BLINDING_FACTOR = 1

_BIP32_HARDENED = 2**31
_BIP32_MASTER_KEY = b"Bitcoin seed"
# 129372 is the Unicode code point of the peanut emoji (U+1F95C), the NUT-13 purpose index.
_NUT13_PURPOSE = 129372
_NUT13_COIN_TYPE = 0
_LEGACY_KEYSET_ID_MODULUS = 2**31 - 1

_HMAC_KDF_DOMAIN = b"Cashu_KDF_HMAC_SHA256"
_HMAC_COUNTER_LIMIT = 2**64

_BIP39_ITERATIONS = 2048


def derive_secret(seed: bytes, keyset_id: str, counter: int) -> str:
    """Derive the proof secret for `counter` in keyset `keyset_id`, as lowercase hex of 32 bytes.

    Raises ValueError for an empty seed, a malformed or unsupported keyset id, or a counter out of range.
    """
    return _derive(seed, keyset_id, counter, _SECRET).hex()


def derive_blinding_factor(seed: bytes, keyset_id: str, counter: int) -> bytes:
    """Derive the blinding factor r for `counter` in keyset `keyset_id`, as 32 big-endian bytes.

    Raises ValueError for an empty seed, a malformed or unsupported keyset id, or a counter out of range.
    """
    return _derive(seed, keyset_id, counter, _BLINDING_FACTOR)


def mnemonic_to_seed(mnemonic: str, passphrase: str = "") -> bytes:
    """Compute the 64-byte BIP39 seed of a mnemonic sentence and an optional passphrase.

    The seed is PBKDF2-HMAC-SHA512 over the NFKD form of the mnemonic, with salt "mnemonic" + passphrase
    in NFKD form and 2048 iterations.
    """
    # NOTE: BIP39 defines the seed for any string, so the words are not checked against the wordlist
    # or the checksum. A mistyped word yields a different seed rather than an error.
    if not mnemonic.strip():
        raise ValueError("mnemonic is empty. Pass the wallet's BIP39 seed phrase")

    password = unicodedata.normalize("NFKD", mnemonic).encode("utf-8")
    salt = unicodedata.normalize("NFKD", "mnemonic" + passphrase).encode("utf-8")
    return hashlib.pbkdf2_hmac("sha512", password, salt, _BIP39_ITERATIONS)


def new_seed() -> bytes:
    """Generate a random 64-byte seed from the operating system's CSPRNG."""
    return secrets.token_bytes(_SEED_LENGTH)


def _derive(seed: bytes, keyset_id: str, counter: int, derivation_type: int) -> bytes:
    if not seed:
        raise ValueError("seed is empty. Pass the wallet's 64-byte seed from mnemonic_to_seed or new_seed")
    version, keyset_id_bytes = _parse_keyset_id(keyset_id)
    if counter < 0:
        raise ValueError(f"invalid counter {counter}, because NUT-13 counters start at 0")

    if version == _VERSION_BIP32:
        if counter >= _BIP32_HARDENED:
            raise ValueError(
                f"invalid counter {counter} for keyset {keyset_id}. Version 00 derivation uses the counter "
                f"as a hardened BIP32 index, so it must be below 2**31"
            )
        return _derive_bip32(seed, keyset_id_bytes, counter, derivation_type)

    if counter >= _HMAC_COUNTER_LIMIT:
        raise ValueError(
            f"invalid counter {counter} for keyset {keyset_id}. Version 01 derivation encodes the counter "
            f"as an unsigned 64-bit integer, so it must be below 2**64"
        )
    return _derive_hmac_sha256(seed, keyset_id_bytes, counter, derivation_type)


def _parse_keyset_id(keyset_id: str) -> tuple[str, bytes]:
    """Split a hex keyset id into its version ("00" or "01") and raw bytes, raising ValueError if invalid."""
    if not _HEX_RE.fullmatch(keyset_id) or len(keyset_id) % 2 != 0:
        raise ValueError(
            f"invalid keyset id {keyset_id!r}: expected an even-length hex string that starts with "
            f"a version byte such as 00 or 01"
        )

    version = keyset_id[:2]
    expected_length = _KEYSET_ID_LENGTHS.get(version)
    if expected_length is None:
        raise ValueError(
            f"unsupported keyset id version {version!r} in keyset id {keyset_id!r}. "
            f"NUT-13 derivation is implemented for versions 00 and 01 only"
        )

    keyset_id_bytes = bytes.fromhex(keyset_id)
    if len(keyset_id_bytes) != expected_length:
        hint = ""
        if version == _VERSION_HMAC_SHA256:
            hint = ". Resolve a short keyset id from a token to the mint's full keyset id first"
        raise ValueError(
            f"invalid keyset id {keyset_id!r}: version {version} keyset ids are {expected_length} bytes "
            f"({2 * expected_length} hex characters), got {len(keyset_id_bytes)}{hint}"
        )
    return version, keyset_id_bytes


def _legacy_keyset_id_int(keyset_id_bytes: bytes) -> int:
    """Map a version 00 keyset id to its BIP32 path index (NUT-13 `keyset_id_int`)."""
    return int.from_bytes(keyset_id_bytes, "big") % _LEGACY_KEYSET_ID_MODULUS


def _legacy_derivation_path(keyset_id_bytes: bytes, counter: int, derivation_type: int) -> tuple[int, ...]:
    """Build the BIP32 indices of m/129372'/0'/{keyset_id_int}'/{counter}'/{derivation_type}."""
    return (
        _NUT13_PURPOSE + _BIP32_HARDENED,
        _NUT13_COIN_TYPE + _BIP32_HARDENED,
        _legacy_keyset_id_int(keyset_id_bytes) + _BIP32_HARDENED,
        counter + _BIP32_HARDENED,
        derivation_type,
    )


def _derive_bip32(seed: bytes, keyset_id_bytes: bytes, counter: int, derivation_type: int) -> bytes:
    path = _legacy_derivation_path(keyset_id_bytes, counter, derivation_type)
    key, chain_code = _keyset_node(seed, keyset_id_bytes)
    for index in path[3:]:
        key, chain_code = _bip32_child_key(key, chain_code, index)
    return bytes(key.secret)


@functools.lru_cache(maxsize=1024)
def _keyset_node(seed: bytes, keyset_id_bytes: bytes) -> tuple[PrivateKey, bytes]:
    """Return the key and chain code at m/129372'/0'/{keyset_id_int}', shared by all counters of a keyset.

    Cached because every output would otherwise repeat these three hardened steps, most of the
    derivation's cost. The cache keeps derived keys of up to 1024 wallet keysets in memory.
    """
    key, chain_code = _bip32_master_key(seed)
    for index in _legacy_derivation_path(keyset_id_bytes, 0, _SECRET)[:3]:
        key, chain_code = _bip32_child_key(key, chain_code, index)
    return key, chain_code


def _bip32_master_key(seed: bytes) -> tuple[PrivateKey, bytes]:
    """Compute the BIP32 master private key and chain code: HMAC-SHA512(key="Bitcoin seed", seed)."""
    digest = hmac.new(_BIP32_MASTER_KEY, seed, hashlib.sha512).digest()
    try:
        # PrivateKey raises ValueError unless 0 < key < n, which BIP32 requires of the master key.
        master_key = PrivateKey(digest[:32])
    except ValueError as exc:
        raise ValueError("seed yields an invalid BIP32 master key. Generate a new seed") from exc
    return master_key, digest[32:]


def _bip32_child_key(parent_key: PrivateKey, chain_code: bytes, index: int) -> tuple[PrivateKey, bytes]:
    """Derive a BIP32 child private key and chain code (CKDpriv), hardened when index >= 2**31."""
    if index >= _BIP32_HARDENED:
        data = b"\x00" + parent_key.secret + index.to_bytes(4, "big")
    else:
        data = parent_key.public_key.format(compressed=True) + index.to_bytes(4, "big")
    digest = hmac.new(chain_code, data, hashlib.sha512).digest()

    try:
        # child = (tweak + parent) mod n. coincurve raises ValueError if tweak >= n or child == 0.
        child_key = parent_key.add(digest[:32])
    except ValueError as exc:
        # NOTE: BIP32 specifies continuing with the next index here, but NUT-13 fixes the path, so this
        # raises instead. The chance per step is below 2**-127, and no test reaches this branch.
        raise ValueError(
            f"BIP32 child key at index {index} is invalid, so this seed cannot derive the NUT-13 path. "
            "Generate a new seed"
        ) from exc
    return child_key, digest[32:]


def _derive_hmac_sha256(seed: bytes, keyset_id_bytes: bytes, counter: int, derivation_type: int) -> bytes:
    message = _HMAC_KDF_DOMAIN + keyset_id_bytes + counter.to_bytes(8, "big") + bytes([derivation_type])
    digest = hmac.new(seed, message, hashlib.sha256).digest()
    if derivation_type == _SECRET:
        return digest

    blinding_factor = int.from_bytes(digest, "big") % _SECP256K1_ORDER
    if blinding_factor == 0:
        # NUT-13 requires rejecting r == 0. The chance is 2**-255 (digest 0 or n), and no test reaches this branch.
        raise ValueError(f"derived blinding factor for counter {counter} is 0, which NUT-13 rejects")
    return blinding_factor.to_bytes(32, "big")
