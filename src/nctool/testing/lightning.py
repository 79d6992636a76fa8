"""Fake Lightning invoices and Nostr keys for tests and the demo.

Each call uses a fresh random key and discards it, so no node can settle the invoices
and no one has the private keys of the npubs.
"""

from __future__ import annotations

import secrets
import time

import bolt11
from bolt11 import Bolt11, MilliSatoshi, TagChar, Tags
from coincurve import PrivateKey

from nctool.nostr.nip19 import encode_npub
from nctool.wallet.invoice import DEFAULT_EXPIRY_SECONDS, NETWORK_NAMES

DESCRIPTION = "nctool test invoice"

# Seconds between the expiry of an expired=True invoice and the time it is made.
_EXPIRED_MARGIN_SECONDS = 60


def make_invoice(
    sats: int,
    *,
    expired: bool = False,
    network: str = "bc",
    amountless: bool = False,
    expiry: int = DEFAULT_EXPIRY_SECONDS,
) -> str:
    """Sign a BOLT 11 invoice for ``sats`` with a random node key.

    The invoice has a random payment hash and payment secret and a description tag.
    With ``amountless`` the amount is left out and ``sats`` is ignored. ``expired``
    dates the invoice so that it expired a minute ago. The expiry (x) tag is left out
    when ``expiry`` is the BOLT 11 default of 3600 s.
    """
    if amountless:
        return make_invoice_msat(None, expired=expired, network=network, expiry=expiry)
    if sats <= 0:
        raise ValueError(f"sats must be positive, got {sats}. Use amountless=True for no amount.")
    return make_invoice_msat(sats * 1000, expired=expired, network=network, expiry=expiry)


def make_invoice_msat(
    amount_msat: int | None,
    *,
    expired: bool = False,
    network: str = "bc",
    expiry: int = DEFAULT_EXPIRY_SECONDS,
) -> str:
    """Sign a BOLT 11 invoice for ``amount_msat``, which may be a fraction of a sat.

    ``None`` leaves the amount out. The other arguments work as in make_invoice.
    """
    if network not in NETWORK_NAMES:
        raise ValueError(f"Unknown network {network!r}. Use one of: {', '.join(NETWORK_NAMES)}.")
    if amount_msat is not None and amount_msat <= 0:
        raise ValueError(f"amount_msat must be positive or None, got {amount_msat}.")
    if expiry <= 0:
        raise ValueError(f"expiry must be positive, got {expiry} s. Use expired=True for an expired invoice.")

    created_at = int(time.time())
    if expired:
        created_at -= expiry + _EXPIRED_MARGIN_SECONDS

    tags = Tags()
    tags.add(TagChar.payment_hash, secrets.token_hex(32))
    tags.add(TagChar.payment_secret, secrets.token_hex(32))
    tags.add(TagChar.description, DESCRIPTION)
    if expiry != DEFAULT_EXPIRY_SECONDS:
        tags.add(TagChar.expire_time, expiry)

    invoice = Bolt11(
        currency=network,
        date=created_at,
        tags=tags,
        amount_msat=None if amount_msat is None else MilliSatoshi(amount_msat),
    )
    return bolt11.encode(invoice, private_key=PrivateKey().to_hex())


def make_npub() -> str:
    """Return the npub of a fresh random key pair, discarding the private key."""
    compressed = PrivateKey().public_key.format(compressed=True)
    return encode_npub(compressed[1:])
