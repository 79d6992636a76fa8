"""Cashu blind-signature crypto on secp256k1: NUT-00 blinding and NUT-12 DLEQ verification.

Points cross this module's boundary as hex of the 33-byte compressed encoding and scalars
as 32 big-endian bytes (or their hex), which is how the mint API and tokens carry them.
Malformed input raises `CryptoError`. The functions do no I/O and never log, because
secrets and blinding factors pass through them.
"""

from __future__ import annotations

import hashlib
import re

from coincurve import PrivateKey, PublicKey

__all__ = [
    "CryptoError",
    "blind_bytes",
    "blind_message",
    "hash_e",
    "hash_to_curve",
    "parse_point",
    "proof_y",
    "unblind_signature",
    "verify_dleq_proof",
    "verify_dleq_signature",
]

# Order n of the secp256k1 group. Valid scalars are 1..n-1.
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

HASH_TO_CURVE_DOMAIN_SEPARATOR = b"Secp256k1_HashToCurve_Cashu_"
# NUT-00 caps the counter at 2**16. Each attempt succeeds with probability of about 1/2,
# so reaching the cap is practically impossible.
HASH_TO_CURVE_MAX_ATTEMPTS = 2**16

_HEX_RE = re.compile(r"[0-9a-fA-F]*")
_COMPRESSED_POINT_LEN = 33
_SCALAR_LEN = 32


class CryptoError(ValueError):
    """Malformed crypto input: a hex string, point or scalar that is not a valid secp256k1 value."""


def hash_to_curve(message: bytes) -> PublicKey:
    """Map a message to a secp256k1 point with unknown discrete log (NUT-00 `hash_to_curve`).

    The point is Y = 02 || sha256(msg_hash || counter), where msg_hash is
    sha256(domain separator || message) and counter is a 4-byte little-endian integer.
    The counter starts at 0 and increments until the x-coordinate lies on the curve.
    """
    message_hash = hashlib.sha256(HASH_TO_CURVE_DOMAIN_SEPARATOR + message).digest()
    for counter in range(HASH_TO_CURVE_MAX_ATTEMPTS):
        candidate = hashlib.sha256(message_hash + counter.to_bytes(4, "little")).digest()
        try:
            return PublicKey(b"\x02" + candidate)
        except ValueError:
            continue
    raise CryptoError(f"hash_to_curve found no valid point in {HASH_TO_CURVE_MAX_ATTEMPTS} attempts")


def proof_y(secret: str) -> str:
    """Return Y = hash_to_curve(secret) as compressed hex, the key mints use to track a proof's state."""
    return hash_to_curve(secret.encode("utf-8")).format(compressed=True).hex()


def parse_point(point_hex: str, name: str = "point") -> PublicKey:
    """Parse hex of a 33-byte compressed secp256k1 point, raising CryptoError naming `name`."""
    raw = _parse_hex(point_hex, name)
    if len(raw) != _COMPRESSED_POINT_LEN or raw[0] not in (2, 3):
        raise CryptoError(f"invalid {name}: expected a 33-byte compressed point starting with 02 or 03")
    try:
        return PublicKey(raw)
    except ValueError as exc:
        raise CryptoError(f"invalid {name}: not a point on secp256k1") from exc


def blind_bytes(message: bytes, blinding_factor: bytes | None = None) -> tuple[str, bytes]:
    """Blind a raw message as B_ = hash_to_curve(message) + r*G (NUT-00 step 1).

    A random r is drawn when `blinding_factor` is None. Returns B_ as compressed hex and r,
    which the caller must keep to unblind the mint's signature.
    """
    if blinding_factor is None:
        blinding_factor = PrivateKey().secret
    _check_scalar(blinding_factor, "blinding factor r")

    y = hash_to_curve(message)
    blinded = _add_points(y, PublicKey.from_secret(blinding_factor))
    if blinded is None:
        raise CryptoError("invalid blinding factor r: Y + r*G is the point at infinity")
    return blinded.format(compressed=True).hex(), blinding_factor


def blind_message(secret: str, blinding_factor: bytes | None = None) -> tuple[str, bytes]:
    """Blind a proof secret (hashed as its UTF-8 bytes) into B_, returning (B_ hex, r)."""
    return blind_bytes(secret.encode("utf-8"), blinding_factor)


def unblind_signature(C_: str, r: bytes, K: str) -> str:
    """Unblind the mint's signature as C = C_ - r*K, where K is the mint's key for the amount."""
    blind_signature = parse_point(C_, "C_")
    mint_key = parse_point(K, "K")
    _check_scalar(r, "blinding factor r")

    unblinded = _add_points(blind_signature, _negated_multiple(mint_key, r))
    if unblinded is None:
        raise CryptoError("invalid signature: C_ - r*K is the point at infinity")
    return unblinded.format(compressed=True).hex()


def hash_e(*points: PublicKey) -> bytes:
    """Compute the NUT-12 challenge: sha256 of the concatenated uncompressed-hex encodings."""
    joined = "".join(point.format(compressed=False).hex() for point in points)
    return hashlib.sha256(joined.encode("utf-8")).digest()


def verify_dleq_signature(B_: str, C_: str, e: str, s: str, A: str) -> bool:
    """Check a mint's DLEQ proof that C_ = a*B_ for the same a as A = a*G (NUT-12, wallet side).

    Recomputes R1 = s*G - e*A and R2 = s*B_ - e*C_ and accepts when e == hash_e(R1, R2, A, C_).
    Returns False for a wrong proof and raises CryptoError for malformed input.
    """
    blinded = parse_point(B_, "B_")
    blind_signature = parse_point(C_, "C_")
    mint_key = parse_point(A, "A")
    challenge = _parse_scalar_hex(e, "e")
    response = _parse_scalar_hex(s, "s")
    return _check_dleq(blinded, blind_signature, challenge, response, mint_key)


def verify_dleq_proof(secret: str, C: str, r: str, e: str, s: str, A: str) -> bool:
    """Check the DLEQ carried by a received proof (NUT-12, receiver side).

    Reblinds with the sender's r as B_ = Y + r*G and C_ = C + r*A, then runs the wallet-side
    check. Returns False for a wrong proof and raises CryptoError for malformed input.
    """
    signature = parse_point(C, "C")
    mint_key = parse_point(A, "A")
    blinding_factor = _parse_scalar_hex(r, "r")
    challenge = _parse_scalar_hex(e, "e")
    response = _parse_scalar_hex(s, "s")

    y = hash_to_curve(secret.encode("utf-8"))
    blinded = _add_points(y, PublicKey.from_secret(blinding_factor))
    blind_signature = _add_points(signature, mint_key.multiply(blinding_factor))
    if blinded is None or blind_signature is None:
        return False
    return _check_dleq(blinded, blind_signature, challenge, response, mint_key)


def _check_dleq(B_: PublicKey, C_: PublicKey, e: bytes, s: bytes, A: PublicKey) -> bool:
    """Run the NUT-12 equation on parsed values. A point at infinity means the proof is wrong."""
    r1 = _add_points(PublicKey.from_secret(s), _negated_multiple(A, e))
    r2 = _add_points(B_.multiply(s), _negated_multiple(C_, e))
    if r1 is None or r2 is None:
        return False
    return hash_e(r1, r2, A, C_) == e


def _negated_multiple(point: PublicKey, scalar: bytes) -> PublicKey:
    """Return -(scalar*point), computed as (n - scalar)*point because coincurve has no negation."""
    negated = SECP256K1_ORDER - int.from_bytes(scalar, "big")
    return point.multiply(negated.to_bytes(_SCALAR_LEN, "big"))


def _add_points(first: PublicKey, second: PublicKey) -> PublicKey | None:
    """Add two points, returning None when the sum is the point at infinity."""
    try:
        return PublicKey.combine_keys([first, second])
    except ValueError:
        return None


def _parse_hex(value: str, name: str) -> bytes:
    """Decode a strict hex string: even length, hex digits only, no whitespace or 0x prefix."""
    if not isinstance(value, str) or len(value) % 2 != 0 or _HEX_RE.fullmatch(value) is None:
        raise CryptoError(f"invalid {name}: expected an even-length hex string")
    return bytes.fromhex(value)


def _parse_scalar_hex(value: str, name: str) -> bytes:
    """Decode 64 hex digits into a scalar in 1..n-1."""
    raw = _parse_hex(value, name)
    _check_scalar(raw, name)
    return raw


def _check_scalar(value: bytes, name: str) -> None:
    """Raise CryptoError unless `value` is 32 big-endian bytes encoding a scalar in 1..n-1."""
    if not isinstance(value, bytes) or len(value) != _SCALAR_LEN:
        raise CryptoError(f"invalid {name}: expected 32 bytes")
    if not 0 < int.from_bytes(value, "big") < SECP256K1_ORDER:
        raise CryptoError(f"invalid {name}: scalar must be in the range 1..n-1 of secp256k1")
