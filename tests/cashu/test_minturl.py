"""Mint URLs compare equal however their scheme, host case, default port or trailing slash is written."""

from __future__ import annotations

import pytest

from nctool.cashu.minturl import normalize_mint_url


@pytest.mark.parametrize(
    "url",
    [
        "https://mint.example.com",
        "https://mint.example.com/",
        "HTTPS://Mint.Example.COM",
        "https://mint.example.com:443/",
        " https://mint.example.com// ",
    ],
)
def test_spellings_of_one_mint_match(url: str) -> None:
    assert normalize_mint_url(url) == "https://mint.example.com"


def test_path_case_is_kept() -> None:
    assert normalize_mint_url("https://example.com/Cashu/") == "https://example.com/Cashu"


def test_other_port_is_another_mint() -> None:
    assert normalize_mint_url("http://127.0.0.1:3338") != normalize_mint_url("http://127.0.0.1:3339")


def test_ipv6_host_keeps_brackets() -> None:
    assert normalize_mint_url("http://[::1]:3338/") == "http://[::1]:3338"
