"""Tests for nctool.cashu.nut13: NUT-13 deterministic secrets and BIP39 seeds, driven by published test vectors."""

# The secrets in this file are public test vectors, not credentials.

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nctool.cashu.crypto import SECP256K1_ORDER
from nctool.cashu.nut13 import (
    _BLINDING_FACTOR,
    _SECRET,
    _legacy_derivation_path,
    _legacy_keyset_id_int,
    derive_blinding_factor,
    derive_secret,
    mnemonic_to_seed,
    new_seed,
)

DeriveFunction = Callable[[bytes, str, int], object]
DERIVE_FUNCTIONS: list[DeriveFunction] = [derive_secret, derive_blinding_factor]


def _format_path(indices: tuple[int, ...]) -> str:
    parts = ["m"]
    for index in indices:
        if index >= 2**31:
            parts.append(f"{index - 2**31}'")
        else:
            parts.append(str(index))
    return "/".join(parts)


# Source: cashubtc/nuts tests/13-tests.md (main branch, July 2026). Both keyset versions derive from
# this mnemonic with an empty BIP39 passphrase.
MNEMONIC = "half depart obvious quality work element tank gorilla view sugar picture humble"
SEED = mnemonic_to_seed(MNEMONIC)

V1_KEYSET_ID = "009a1f293253e41e"
V1_KEYSET_ID_INT = 864559728

V1_DERIVATION_PATHS = [
    (0, "m/129372'/0'/864559728'/0'"),
    (1, "m/129372'/0'/864559728'/1'"),
    (2, "m/129372'/0'/864559728'/2'"),
    (3, "m/129372'/0'/864559728'/3'"),
    (4, "m/129372'/0'/864559728'/4'"),
]

V1_SECRETS = [
    (0, "485875df74771877439ac06339e284c3acfcd9be7abf3bc20b516faeadfe77ae"),
    (1, "8f2b39e8e594a4056eb1e6dbb4b0c38ef13b1b2c751f64f810ec04ee35b77270"),
    (2, "bc628c79accd2364fd31511216a0fab62afd4a18ff77a20deded7b858c9860c8"),
    (3, "59284fd1650ea9fa17db2b3acf59ecd0f2d52ec3261dd4152785813ff27a33bf"),
    (4, "576c23393a8b31cc8da6688d9c9a96394ec74b40fdaf1f693a6bb84284334ea0"),
]

V1_BLINDING_FACTORS = [
    (0, "ad00d431add9c673e843d4c2bf9a778a5f402b985b8da2d5550bf39cda41d679"),
    (1, "967d5232515e10b81ff226ecf5a9e2e2aff92d66ebc3edf0987eb56357fd6248"),
    (2, "b20f47bb6ae083659f3aa986bfa0435c55c6d93f687d51a01f26862d9b9a4899"),
    (3, "fb5fca398eb0b1deb955a2988b5ac77d32956155f1c002a373535211a2dfdc29"),
    (4, "5f09bfbfe27c439a597719321e061e2e40aad4a36768bb2bcc3de547c9644bf9"),
]

V2_KEYSET_ID = "015ba18a8adcd02e715a58358eb618da4a4b3791151a4bee5e968bb88406ccf76a"

V2_SECRETS = [
    (0, "db5561a07a6e6490f8dadeef5be4e92f7cebaecf2f245356b5b2a4ec40687298"),
    (1, "b70e7b10683da3bf1cdf0411206f8180c463faa16014663f39f2529b2fda922e"),
    (2, "78a7ac32ccecc6b83311c6081b89d84bb4128f5a0d0c5e1af081f301c7a513f5"),
    (3, "094a2b6c63bfa7970bc09cda0e1cfc9cd3d7c619b8e98fabcfc60aea9e4963e5"),
    (4, "5e89fc5d30d0bf307ddf0a3ac34aa7a8ee3702169dafa3d3fe1d0cae70ecd5ef"),
]

V2_BLINDING_FACTORS = [
    (0, "6d26181a3695e32e9f88b80f039ba1ae2ab5a200ad4ce9dbc72c6d3769f2b035"),
    (1, "bde4354cee75545bea1a2eee035a34f2d524cee2bb01613823636e998386952e"),
    (2, "f40cc1218f085b395c8e1e5aaa25dccc851be3c6c7526a0f4e57108f12d6dac4"),
    (3, "099ed70fc2f7ac769bc20b2a75cb662e80779827b7cc358981318643030577d0"),
    (4, "5550337312d223ba62e3f75cfe2ab70477b046d98e3e71804eade3956c7b98cf"),
]

SECRET_VECTORS = [(V1_KEYSET_ID, counter, secret) for counter, secret in V1_SECRETS] + [
    (V2_KEYSET_ID, counter, secret) for counter, secret in V2_SECRETS
]
BLINDING_FACTOR_VECTORS = [(V1_KEYSET_ID, counter, r) for counter, r in V1_BLINDING_FACTORS] + [
    (V2_KEYSET_ID, counter, r) for counter, r in V2_BLINDING_FACTORS
]

# Source: trezor/python-mnemonic vectors.json (master, August 2024), the BIP39 reference vectors.
# They all use the passphrase "TREZOR".
BIP39_PASSPHRASE = "TREZOR"
BIP39_VECTORS = [
    (
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
        "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04",
    ),
    (
        "legal winner thank year wave sausage worth useful legal winner thank yellow",
        "2e8905819b8723fe2c1d161860e5ee1830318dbf49a83bd451cfb8440c28bd6fa457fe1296106559a3c80937a1c1069be3a3a5bd381ee6260e8d9739fce1f607",
    ),
    (
        "letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
        "d71de856f81a8acc65e6fc851a38d4d7ec216fd0796d0a6827a3ad6ed5511a30fa280f12eb2e47ed2ac03b5c462a0358d18d69fe4f985ec81778c1b370b652a8",
    ),
    (
        "ozone drill grab fiber curtain grace pudding thank cruise elder eight picnic",
        "274ddc525802f7c828d8ef7ddbcdc5304e87ac3535913611fbbfa986d0c9e5476c91689f9c8a54fd55bd38606aa6a8595ad213d4c9c9f9aca3fb217069a41028",
    ),
]

# Source: trezor/python-mnemonic tests/test_mnemonic.py, test_utf8_nfkd. One Czech sentence and passphrase
# in composed (NFC) and decomposed (NFD, here equal to NFKD) Unicode forms.
NFKD_MNEMONIC = (
    "Pr\u030ci\u0301s\u030cerne\u030c z\u030clut\u030couc\u030cky\u0301 ku\u030an\u030c u\u0301pe\u030cl "
    "d\u030ca\u0301belske\u0301 o\u0301dy za\u0301ker\u030cny\u0301 uc\u030cen\u030c be\u030cz\u030ci\u0301 "
    "pode\u0301l zo\u0301ny u\u0301lu\u030a"
)
NFC_MNEMONIC = (
    "P\u0159\xed\u0161ern\u011b \u017elu\u0165ou\u010dk\xfd k\u016f\u0148 \xfap\u011bl \u010f\xe1belsk\xe9 "
    "\xf3dy z\xe1ke\u0159n\xfd u\u010de\u0148 b\u011b\u017e\xed pod\xe9l z\xf3ny \xfal\u016f"
)
NFKD_PASSPHRASE = "Neuve\u030cr\u030citelne\u030c bezpec\u030cne\u0301 hesli\u0301c\u030cko"
NFC_PASSPHRASE = "Neuv\u011b\u0159iteln\u011b bezpe\u010dn\xe9 hesl\xed\u010dko"


@pytest.mark.parametrize(("keyset_id", "counter", "expected"), SECRET_VECTORS)
def test_derive_secret_matches_vector(keyset_id: str, counter: int, expected: str) -> None:
    assert derive_secret(SEED, keyset_id, counter) == expected


@pytest.mark.parametrize(("keyset_id", "counter", "expected"), BLINDING_FACTOR_VECTORS)
def test_derive_blinding_factor_matches_vector(keyset_id: str, counter: int, expected: str) -> None:
    assert derive_blinding_factor(SEED, keyset_id, counter).hex() == expected


def test_legacy_keyset_id_int_matches_vector() -> None:
    assert _legacy_keyset_id_int(bytes.fromhex(V1_KEYSET_ID)) == V1_KEYSET_ID_INT


@pytest.mark.parametrize(("counter", "expected"), V1_DERIVATION_PATHS)
def test_legacy_derivation_path_matches_vector(counter: int, expected: str) -> None:
    keyset_id_bytes = bytes.fromhex(V1_KEYSET_ID)

    secret_path = _legacy_derivation_path(keyset_id_bytes, counter, _SECRET)
    blinding_factor_path = _legacy_derivation_path(keyset_id_bytes, counter, _BLINDING_FACTOR)

    assert _format_path(secret_path) == expected + "/0"
    assert _format_path(blinding_factor_path) == expected + "/1"


@pytest.mark.parametrize("keyset_id", [V1_KEYSET_ID, V2_KEYSET_ID])
def test_derive_accepts_uppercase_keyset_id(keyset_id: str) -> None:
    assert derive_secret(SEED, keyset_id.upper(), 0) == derive_secret(SEED, keyset_id, 0)
    assert derive_blinding_factor(SEED, keyset_id.upper(), 0) == derive_blinding_factor(SEED, keyset_id, 0)


@pytest.mark.parametrize(("keyset_id", "max_counter"), [(V1_KEYSET_ID, 2**31 - 1), (V2_KEYSET_ID, 2**64 - 1)])
def test_derive_accepts_max_counter(keyset_id: str, max_counter: int) -> None:
    assert len(derive_secret(SEED, keyset_id, max_counter)) == 64
    assert len(derive_blinding_factor(SEED, keyset_id, max_counter)) == 32


@pytest.mark.parametrize("keyset_id", [V1_KEYSET_ID, V2_KEYSET_ID])
@given(seed=st.binary(min_size=1, max_size=64), counter=st.integers(min_value=0, max_value=2**31 - 1))
def test_derive_output_shape_any_seed(keyset_id: str, seed: bytes, counter: int) -> None:
    secret = derive_secret(seed, keyset_id, counter)
    blinding_factor = derive_blinding_factor(seed, keyset_id, counter)

    assert len(secret) == 64
    assert secret == secret.lower()
    assert len(blinding_factor) == 32
    assert 0 < int.from_bytes(blinding_factor, "big") < SECP256K1_ORDER


@pytest.mark.parametrize(("mnemonic", "expected"), BIP39_VECTORS)
def test_mnemonic_to_seed_matches_bip39_vector(mnemonic: str, expected: str) -> None:
    assert mnemonic_to_seed(mnemonic, BIP39_PASSPHRASE).hex() == expected


@pytest.mark.parametrize(
    ("mnemonic", "passphrase"),
    [
        (NFC_MNEMONIC, NFC_PASSPHRASE),
        (NFC_MNEMONIC, NFKD_PASSPHRASE),
        (NFKD_MNEMONIC, NFC_PASSPHRASE),
    ],
)
def test_mnemonic_to_seed_normalizes_nfkd(mnemonic: str, passphrase: str) -> None:
    assert mnemonic_to_seed(mnemonic, passphrase) == mnemonic_to_seed(NFKD_MNEMONIC, NFKD_PASSPHRASE)


def test_mnemonic_to_seed_passphrase_changes_seed() -> None:
    assert mnemonic_to_seed(MNEMONIC, "TREZOR") != mnemonic_to_seed(MNEMONIC)


def test_new_seed_is_64_bytes() -> None:
    assert len(new_seed()) == 64


def test_new_seed_differs_per_call() -> None:
    assert new_seed() != new_seed()


@pytest.mark.parametrize("derive", DERIVE_FUNCTIONS)
@pytest.mark.parametrize("keyset_id", [V1_KEYSET_ID, V2_KEYSET_ID])
def test_derive_rejects_empty_seed(derive: DeriveFunction, keyset_id: str) -> None:
    with pytest.raises(ValueError, match="seed is empty"):
        derive(b"", keyset_id, 0)


@pytest.mark.parametrize("derive", DERIVE_FUNCTIONS)
@pytest.mark.parametrize("keyset_id", [V1_KEYSET_ID, V2_KEYSET_ID])
def test_derive_rejects_negative_counter(derive: DeriveFunction, keyset_id: str) -> None:
    with pytest.raises(ValueError, match="invalid counter -1"):
        derive(SEED, keyset_id, -1)


@pytest.mark.parametrize("derive", DERIVE_FUNCTIONS)
@pytest.mark.parametrize(
    ("keyset_id", "counter", "limit"),
    [(V1_KEYSET_ID, 2**31, r"2\*\*31"), (V2_KEYSET_ID, 2**64, r"2\*\*64")],
)
def test_derive_rejects_counter_above_limit(derive: DeriveFunction, keyset_id: str, counter: int, limit: str) -> None:
    with pytest.raises(ValueError, match=f"invalid counter {counter} .* below {limit}"):
        derive(SEED, keyset_id, counter)


@pytest.mark.parametrize("derive", DERIVE_FUNCTIONS)
@pytest.mark.parametrize(
    "keyset_id",
    [
        "",
        "0",
        "009a1f293253e41",  # odd length
        "009a1f293253e41g",  # non-hex character
        " 009a1f293253e41e",
        "I2yN+iRYfkzT",  # base64 keyset id from before NUT-02 versioning
    ],
)
def test_derive_rejects_malformed_keyset_id(derive: DeriveFunction, keyset_id: str) -> None:
    with pytest.raises(ValueError, match=r"invalid keyset id .* even-length hex string"):
        derive(SEED, keyset_id, 0)


@pytest.mark.parametrize("derive", DERIVE_FUNCTIONS)
@pytest.mark.parametrize(
    ("keyset_id", "expected_length"),
    [
        ("009a1f293253e4", 8),
        ("009a1f293253e41e00", 8),
        (V2_KEYSET_ID[:-2], 33),
        (V2_KEYSET_ID + "00", 33),
    ],
)
def test_derive_rejects_keyset_id_of_wrong_length(derive: DeriveFunction, keyset_id: str, expected_length: int) -> None:
    with pytest.raises(ValueError, match=f"keyset ids are {expected_length} bytes"):
        derive(SEED, keyset_id, 0)


@pytest.mark.parametrize("derive", DERIVE_FUNCTIONS)
def test_derive_rejects_short_v2_keyset_id(derive: DeriveFunction) -> None:
    short_keyset_id = V2_KEYSET_ID[:16]

    with pytest.raises(ValueError, match="Resolve a short keyset id"):
        derive(SEED, short_keyset_id, 0)


@pytest.mark.parametrize("derive", DERIVE_FUNCTIONS)
@pytest.mark.parametrize("keyset_id", ["02" + V2_KEYSET_ID[2:], "ff9a1f293253e41e", "10"])
def test_derive_rejects_unsupported_version(derive: DeriveFunction, keyset_id: str) -> None:
    version = keyset_id[:2]

    with pytest.raises(ValueError, match=f"unsupported keyset id version '{version}'"):
        derive(SEED, keyset_id, 0)


@pytest.mark.parametrize("derive", DERIVE_FUNCTIONS)
@pytest.mark.parametrize(("keyset_id", "counter"), [("zz", 0), (V1_KEYSET_ID, -1), (V2_KEYSET_ID, 2**64)])
def test_derive_error_omits_seed(derive: DeriveFunction, keyset_id: str, counter: int) -> None:
    with pytest.raises(ValueError) as excinfo:
        derive(SEED, keyset_id, counter)

    assert SEED.hex() not in str(excinfo.value)
    assert repr(SEED) not in str(excinfo.value)


@pytest.mark.parametrize("mnemonic", ["", "   ", "\n"])
def test_mnemonic_to_seed_rejects_empty_mnemonic(mnemonic: str) -> None:
    with pytest.raises(ValueError, match="mnemonic is empty"):
        mnemonic_to_seed(mnemonic)
