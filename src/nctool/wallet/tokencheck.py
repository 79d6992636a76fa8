"""Validation of a received token before any request that spends it. The checks need nothing from
the mint beyond this service's cached keysets of its own mint.

Each failure is an InputError (400) whose message names the proof by index, never by secret.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from nctool.cashu.client import Keyset
from nctool.cashu.crypto import CryptoError, parse_point, proof_y, verify_dleq_proof
from nctool.cashu.minturl import normalize_mint_url
from nctool.cashu.models import Proof, Token
from nctool.cashu.p2pk import P2PKError, P2PKLock, parse_lock, public_key_of, sign_secret, witness
from nctool.cashu.tokens import TokenDecodeError, decode_token
from nctool.errors import InputError
from nctool.wallet.keysets import KeysetCache

# Largest token text accepted; a token of MAX_TOKEN_PROOFS proofs with DLEQs is far smaller.
MAX_TOKEN_CHARS = 500_000
# Nutshell's default limit of inputs per request (mint_max_request_length) is 1000.
MAX_TOKEN_PROOFS = 1000


@dataclass(frozen=True)
class CheckedToken:
    """A token that passed every local check, with proofs ready to send as swap inputs."""

    token: Token
    inputs: list[Proof]
    ys: list[str]
    keysets: dict[str, Keyset]

    @property
    def amount(self) -> int:
        return sum(p.amount for p in self.inputs)


def _reject(message: str, code: str, field: str = "encodedToken") -> InputError:
    return InputError(message, code=code, details=[f"{field}: {message}"])


def decode(text: object) -> Token:
    if not isinstance(text, str) or not text.strip():
        raise _reject("encodedToken is missing; send a cashuA or cashuB token string", "INVALID_TOKEN")
    if len(text) > MAX_TOKEN_CHARS:
        raise _reject(f"the token is longer than {MAX_TOKEN_CHARS} characters", "INVALID_TOKEN")
    try:
        return decode_token(text)
    except TokenDecodeError as exc:
        raise _reject(str(exc), "INVALID_TOKEN") from exc


def check_origin(token: Token, mint_url: str, unit: str) -> None:
    """Reject a token of another mint or unit, before anything is sent to that mint."""
    if normalize_mint_url(token.mint) != normalize_mint_url(mint_url):
        raise _reject(
            f"the token is from mint {token.mint}, which this service does not trust; it accepts tokens of "
            f"{mint_url} only. Redeem it in a wallet of that mint",
            "UNTRUSTED_MINT",
        )
    if token.unit != unit:
        raise _reject(f"the token's unit is {token.unit!r}; this wallet's unit is {unit!r}", "WRONG_UNIT")


def check_shape(proofs: Sequence[Proof], max_amount: int) -> list[str]:
    """Check count, duplicates and total; return the proofs' Ys."""
    if len(proofs) > MAX_TOKEN_PROOFS:
        raise _reject(f"the token has {len(proofs)} proofs; at most {MAX_TOKEN_PROOFS} are accepted", "TOO_MANY_PROOFS")
    ys: list[str] = []
    seen: dict[str, int] = {}
    for index, proof in enumerate(proofs):
        y = proof_y(proof.secret)
        if y in seen:
            raise _reject(
                f"proof {index} duplicates proof {seen[y]}; a token lists each proof once", "DUPLICATE_PROOFS"
            )
        seen[y] = index
        ys.append(y)
    total = sum(p.amount for p in proofs)
    if total > max_amount:
        raise _reject(f"the token carries more than the maximum of {max_amount} sat", "AMOUNT_TOO_LARGE")
    return ys


async def resolve_keysets(
    proofs: Sequence[Proof], cache: KeysetCache, unit: str
) -> tuple[list[Proof], dict[str, Keyset]]:
    """Map each proof's keyset id (full, or a V4 token's short id) to a keyset of the mint; check amounts."""
    known = {k.id: k for k in await cache.all()}
    if any(_match(p.id, known) is None for p in proofs):
        await cache.refresh()
        known = {k.id: k for k in await cache.all()}
    resolved: list[Proof] = []
    for index, proof in enumerate(proofs):
        keyset = _match(proof.id, known)
        if keyset is None:
            raise _reject(f"proof {index} names keyset {proof.id}, which the mint does not list", "UNKNOWN_KEYSET")
        if keyset.unit != unit:
            raise _reject(f"proof {index} is of keyset {keyset.id} in unit {keyset.unit!r}, not {unit!r}", "WRONG_UNIT")
        if proof.amount not in keyset.keys:
            raise _reject(
                f"proof {index} has amount {proof.amount}, for which keyset {keyset.id} has no key", "INVALID_AMOUNT"
            )
        try:
            parse_point(proof.C, f"proof {index} C")
        except CryptoError as exc:
            raise _reject(str(exc), "INVALID_PROOF") from exc
        resolved.append(
            Proof(
                id=keyset.id,
                amount=proof.amount,
                secret=proof.secret,
                C=proof.C,
                dleq=proof.dleq,
                witness=proof.witness,
            )
        )
    return resolved, known


def _match(keyset_id: str, known: dict[str, Keyset]) -> Keyset | None:
    """Find a keyset by id; a short id (NUT-02, V4 tokens of 33-byte keyset ids) matches by prefix."""
    keyset_id = keyset_id.lower()
    if keyset_id in known:
        return known[keyset_id]
    matches = [k for k in known.values() if len(keyset_id) == 16 and k.id.startswith(keyset_id)]
    return matches[0] if len(matches) == 1 else None


def check_dleqs(proofs: Sequence[Proof], keysets: dict[str, Keyset]) -> int:
    """Verify each DLEQ that carries its blinding factor r (NUT-12); return how many were verified."""
    verified = 0
    for index, proof in enumerate(proofs):
        dleq = proof.dleq
        if dleq is None or dleq.r is None:
            continue
        key = keysets[proof.id].keys[proof.amount]
        try:
            valid = verify_dleq_proof(proof.secret, proof.C, dleq.r, dleq.e, dleq.s, key)
        except CryptoError as exc:
            raise _reject(f"proof {index} has a malformed DLEQ proof: {exc}", "INVALID_DLEQ") from exc
        if not valid:
            raise _reject(
                f"proof {index} carries a DLEQ proof that does not verify against the mint's key; the token "
                "was not signed by this mint or was altered",
                "INVALID_DLEQ",
            )
        verified += 1
    return verified


def sign_locked(proofs: Sequence[Proof], keys: Sequence[bytes], now: float | None = None) -> list[Proof]:
    """Add a NUT-11 witness to each P2PK-locked proof, signed by whichever of `keys` the lock names."""
    now = time.time() if now is None else now
    signed: list[Proof] = []
    by_pub = {public_key_of(k): k for k in keys}
    for index, proof in enumerate(proofs):
        try:
            lock = parse_lock(proof.secret)
        except P2PKError as exc:
            raise _reject(f"proof {index}: {exc}", "UNSUPPORTED_SECRET") from exc
        if lock is None:
            signed.append(proof)
            continue
        signed.append(_sign_one(proof, lock, by_pub, index, now))
    return signed


def _sign_one(proof: Proof, lock: P2PKLock, by_pub: dict[str, bytes], index: int, now: float) -> Proof:
    if lock.sigflag != "SIG_INPUTS" or lock.n_sigs != 1:
        raise _reject(
            f"proof {index} needs {lock.n_sigs} signatures with sigflag {lock.sigflag}; only single-key "
            "SIG_INPUTS locks are supported",
            "UNSUPPORTED_SECRET",
        )
    signers = lock.signers_at(now)
    if signers is None:
        return proof
    key = next((by_pub[p] for p in signers if p in by_pub), None)
    if key is None:
        raise InputError(
            f"proof {index} is locked to public key {signers[0]}, which is not this wallet's P2PK key; "
            "the key holder must redeem it, or pass the matching privateKey",
            code="P2PK_KEY_MISMATCH",
            details=["encodedToken: locked to another key; privateKey: pass the key the token is locked to"],
        )
    signature = sign_secret(proof.secret, key)
    return Proof(
        id=proof.id, amount=proof.amount, secret=proof.secret, C=proof.C, dleq=proof.dleq, witness=witness([signature])
    )


async def check_token(
    token: Token, cache: KeysetCache, *, mint_url: str, unit: str, max_amount: int, keys: Sequence[bytes]
) -> CheckedToken:
    """Run every local check on a decoded token and sign its locked proofs."""
    check_origin(token, mint_url, unit)
    ys = check_shape(token.proofs, max_amount)
    proofs, keysets = await resolve_keysets(token.proofs, cache, unit)
    check_dleqs(proofs, keysets)
    return CheckedToken(token, sign_locked(proofs, keys), ys, keysets)
