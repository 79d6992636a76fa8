"""`nctool dev` prints throwaway keys and invoices that the rest of nctool accepts."""

from __future__ import annotations

import subprocess
import sys

from coincurve import PrivateKey

from nctool.nostr.nip19 import decode_npub
from nctool.wallet.invoice import parse_invoice


def nctool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  # this interpreter, our own module
        [sys.executable, "-m", "nctool.cli.main", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_keypair_prints_matching_npub_and_key():
    npub, secret = nctool("dev", "keypair").stdout.split()
    public = PrivateKey(bytes.fromhex(secret)).public_key.format(compressed=True)[1:]
    assert decode_npub(npub) == public


def test_invoice_has_requested_amount():
    printed = nctool("dev", "invoice", "250").stdout.strip()
    assert parse_invoice(printed, network="bc").amount_sat == 250


def test_invoice_rejects_zero_amount():
    result = nctool("dev", "invoice", "0")
    assert result.returncode == 2
