"""Tests for BOLT 11 invoice parsing."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable

import bolt11
import pytest
from bech32 import bech32_decode, bech32_encode, convertbits
from bolt11 import Bolt11, MilliSatoshi, TagChar, Tags
from coincurve import PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from nctool.testing.lightning import make_invoice, make_invoice_msat
from nctool.wallet.invoice import Invoice, InvoiceError, parse_invoice

NETWORKS = ["bc", "tb", "tbs", "bcrt"]

# A BOLT 11 signature is 65 bytes, which is 104 five-bit words.
_SIGNATURE_WORDS = 104


def _resign_with_hrp(invoice: str, hrp: str) -> str:
    """Replace the human-readable part (network and amount) and sign again."""
    _, words = bech32_decode(invoice)
    assert words is not None
    data_words = words[:-_SIGNATURE_WORDS]
    signing_data = convertbits(data_words, 5, 8, True)
    assert signing_data is not None
    signature = PrivateKey().sign_recoverable(hrp.encode() + bytes(signing_data))
    signature_words = convertbits(signature, 8, 5, True)
    assert signature_words is not None
    return bech32_encode(hrp, data_words + signature_words)


def _reason(text: str, network: str = "bc", now: float | None = None) -> str:
    with pytest.raises(InvoiceError) as excinfo:
        parse_invoice(text, network=network, now=now)
    return excinfo.value.reason


def test_parse_valid_invoice() -> None:
    before = int(time.time())
    text = make_invoice(21)

    invoice = parse_invoice(text, network="bc")

    assert invoice.bolt11 == text
    assert invoice.amount_sat == 21
    assert invoice.amount_msat == 21_000
    assert invoice.network == "bc"
    assert invoice.payment_hash == bolt11.decode(text).payment_hash
    assert re.fullmatch(r"[0-9a-f]{64}", invoice.payment_hash)
    assert before <= invoice.created_at <= int(time.time())


def test_parse_default_expiry() -> None:
    invoice = parse_invoice(make_invoice(21), network="bc")
    assert invoice.expires_at - invoice.created_at == 3600


def test_parse_expiry_tag() -> None:
    invoice = parse_invoice(make_invoice(21, expiry=600), network="bc")
    assert invoice.expires_at - invoice.created_at == 600


@pytest.mark.parametrize("network", NETWORKS)
def test_parse_each_network(network: str) -> None:
    invoice = parse_invoice(make_invoice(5, network=network), network=network)
    assert invoice.network == network
    assert invoice.amount_sat == 5


@pytest.mark.parametrize(
    "wrap",
    [
        lambda text: f"lightning:{text}",
        lambda text: f"LIGHTNING:{text.upper()}",
        lambda text: f"Lightning:{text}",
        lambda text: text.upper(),
        lambda text: f"  {text}\n",
        lambda text: f" lightning: {text} ",
    ],
    ids=["uri", "upper-uri", "title-case-scheme", "upper", "whitespace", "uri-whitespace"],
)
def test_parse_prefix_and_case(wrap: Callable[[str], str]) -> None:
    text = make_invoice(21)
    invoice = parse_invoice(wrap(text), network="bc")
    assert invoice.bolt11 == text
    assert invoice.amount_sat == 21


def test_invoice_is_frozen() -> None:
    invoice = parse_invoice(make_invoice(21), network="bc")
    with pytest.raises(dataclasses.FrozenInstanceError):
        invoice.amount_sat = 1  # type: ignore[misc]


def test_error_carries_reason() -> None:
    error = InvoiceError("INVOICE_EXPIRED", "expired")
    assert isinstance(error, ValueError)
    assert error.reason == "INVOICE_EXPIRED"
    assert str(error) == "expired"


def _bad_checksum(text: str) -> str:
    last = "q" if text[-1] != "q" else "p"
    return text[:-1] + last


def _mixed_case(text: str) -> str:
    return text[:10] + text[10:].upper()


def _without_payment_secret() -> str:
    tags = Tags()
    tags.add(TagChar.payment_hash, "00" * 32)
    tags.add(TagChar.description, "no secret")
    invoice = Bolt11(currency="bc", date=int(time.time()), tags=tags, amount_msat=MilliSatoshi(1000))
    return bolt11.encode(invoice, private_key=PrivateKey().to_hex(), ignore_exceptions=True)


@pytest.mark.parametrize(
    "make_text",
    [
        lambda: "",
        lambda: "   ",
        lambda: "lightning:",
        lambda: "hello",
        lambda: "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg",
        lambda: _bad_checksum(make_invoice(21)),
        lambda: make_invoice(21)[:-20],
        lambda: _mixed_case(make_invoice(21)),
        lambda: _resign_with_hrp(make_invoice(21), "lnsb210n"),
        lambda: _resign_with_hrp(make_invoice(21), "lnbc21x"),
        lambda: _without_payment_secret(),
    ],
    ids=[
        "empty",
        "blank",
        "scheme-only",
        "not-bech32",
        "npub",
        "bad-checksum",
        "truncated",
        "mixed-case",
        "unknown-currency",
        "bad-multiplier",
        "no-payment-secret",
    ],
)
def test_invalid_invoice(make_text: Callable[[], str]) -> None:
    assert _reason(make_text()) == "INVALID_INVOICE"


def test_invalid_message_names_fix() -> None:
    with pytest.raises(InvoiceError) as excinfo:
        parse_invoice(_bad_checksum(make_invoice(21)), network="bc")
    message = str(excinfo.value)
    assert "not a valid BOLT 11 invoice" in message
    assert "whole invoice was copied" in message


@pytest.mark.parametrize(
    ("invoice_network", "wallet_network"),
    [("tb", "bc"), ("bc", "tb"), ("tbs", "tb"), ("tb", "tbs"), ("bcrt", "bc"), ("bc", "bcrt")],
)
def test_wrong_network(invoice_network: str, wallet_network: str) -> None:
    text = make_invoice(21, network=invoice_network)
    assert _reason(text, network=wallet_network) == "WRONG_NETWORK"


def test_wrong_network_message() -> None:
    with pytest.raises(InvoiceError) as excinfo:
        parse_invoice(make_invoice(21, network="tb"), network="bc")
    message = str(excinfo.value)
    assert "testnet (prefix lntb)" in message
    assert "mainnet (prefix lnbc)" in message
    assert "Request an invoice for mainnet" in message


def test_amountless_invoice() -> None:
    assert _reason(make_invoice(0, amountless=True)) == "AMOUNTLESS_INVOICE"


def test_amountless_message() -> None:
    with pytest.raises(InvoiceError) as excinfo:
        parse_invoice(make_invoice(0, amountless=True), network="bc")
    assert "Request an invoice with an amount" in str(excinfo.value)


@pytest.mark.parametrize("amount_msat", [1, 999, 1500, 21_001])
def test_sub_sat_amount(amount_msat: int) -> None:
    assert _reason(make_invoice_msat(amount_msat)) == "SUB_SAT_AMOUNT"


def test_sub_sat_message() -> None:
    with pytest.raises(InvoiceError) as excinfo:
        parse_invoice(make_invoice_msat(1500), network="bc")
    message = str(excinfo.value)
    assert "1500 msat" in message
    assert "whole number of sats" in message


@pytest.mark.parametrize(
    ("hrp", "reason"),
    [
        # 15p is 1.5 msat, and BOLT 11 requires the last digit of a p amount to be 0.
        ("lnbc15p", "INVALID_INVOICE"),
        ("lnbc1p", "INVALID_INVOICE"),
        # 10p is exactly 1 msat, a valid amount but not a whole sat.
        ("lnbc10p", "SUB_SAT_AMOUNT"),
    ],
)
def test_pico_amount_rejected(hrp: str, reason: str) -> None:
    assert _reason(_resign_with_hrp(make_invoice(21), hrp)) == reason


def test_pico_amount_whole_sat() -> None:
    # 10000p BTC is 1e-8 BTC, which is exactly 1 sat.
    invoice = parse_invoice(_resign_with_hrp(make_invoice(21), "lnbc10000p"), network="bc")
    assert invoice.amount_sat == 1
    assert invoice.amount_msat == 1000


def test_expired_invoice() -> None:
    assert _reason(make_invoice(21, expired=True)) == "INVOICE_EXPIRED"


def test_expired_message() -> None:
    with pytest.raises(InvoiceError) as excinfo:
        parse_invoice(make_invoice(21, expired=True), network="bc")
    assert "Request a new invoice" in str(excinfo.value)


def test_expiry_boundary_uses_now() -> None:
    text = make_invoice(21, expiry=600)
    invoice = parse_invoice(text, network="bc")

    last_valid = parse_invoice(text, network="bc", now=invoice.expires_at - 0.5)
    assert last_valid == invoice
    assert _reason(text, now=invoice.expires_at) == "INVOICE_EXPIRED"


def test_check_order_network_first() -> None:
    # An amountless, expired testnet invoice fails the network check first.
    text = make_invoice(0, amountless=True, expired=True, network="tb")
    assert _reason(text, network="bc") == "WRONG_NETWORK"


def test_check_order_amount_before_expiry() -> None:
    text = make_invoice(0, amountless=True, expired=True)
    assert _reason(text) == "AMOUNTLESS_INVOICE"


@pytest.mark.parametrize("network", ["", "mainnet", "BC", "lnbc", "sb"])
def test_unknown_network_argument(network: str) -> None:
    with pytest.raises(ValueError, match="Unknown network") as excinfo:
        parse_invoice(make_invoice(21), network=network)
    assert not isinstance(excinfo.value, InvoiceError)


def test_make_invoice_rejects_zero_sats() -> None:
    with pytest.raises(ValueError, match="sats must be positive"):
        make_invoice(0)


def test_invoice_fields() -> None:
    names = [field.name for field in dataclasses.fields(Invoice)]
    assert names == [
        "bolt11",
        "payment_hash",
        "amount_sat",
        "amount_msat",
        "created_at",
        "expires_at",
        "network",
    ]


BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


@given(st.text(max_size=300))
def test_parse_arbitrary_text_raises_only_invoice_error(text: str) -> None:
    try:
        parse_invoice(text, network="bc")
    except InvoiceError:
        pass


@given(st.sampled_from(["lnbc", "lnbc10u", "lntb", "lnbc1p"]), st.text(alphabet=BECH32, max_size=400))
def test_parse_bech32_like_invoice_raises_only_invoice_error(prefix: str, data: str) -> None:
    try:
        parse_invoice(prefix + "1" + data, network="bc")
    except InvoiceError:
        pass


@given(st.integers(min_value=0, max_value=len(make_invoice(1000)) - 1), st.sampled_from(list(BECH32)))
def test_parse_invoice_with_one_changed_character_never_crashes(position: int, replacement: str) -> None:
    original = make_invoice(1000)
    mutated = original[:position] + replacement + original[position + 1 :]
    try:
        parse_invoice(mutated, network="bc")
    except InvoiceError:
        pass
