"""`nctool dev`: throwaway keys and invoices for trying nctool against the local dev mint."""

from __future__ import annotations

import typer
from coincurve import PrivateKey

from nctool.nostr.nip19 import encode_npub
from nctool.testing.lightning import make_invoice

dev_app = typer.Typer(help="Throwaway Nostr keys and Lightning invoices for development.", no_args_is_help=True)


@dev_app.command("keypair")
def keypair() -> None:
    """Print a new npub and its private key (hex), for a test wallet and NIP-98 signing.

    The key is printed once and stored nowhere; use it only with a development service.
    """
    key = PrivateKey()
    npub = encode_npub(key.public_key.format(compressed=True)[1:])
    print(f"{npub} {key.secret.hex()}")


@dev_app.command("invoice")
def invoice(amount: int = typer.Argument(..., min=1, help="amount in sat")) -> None:
    """Print a BOLT 11 invoice signed by a random node key, which the dev mint's FakeWallet pays.

    No real Lightning node can pay it, so it is useful only against a FakeWallet mint.
    """
    print(make_invoice(amount))
