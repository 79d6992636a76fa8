"""Mint URL normalization, so one mint compares equal however its URL is written."""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_mint_url(url: str) -> str:
    """Return the URL with a lowercase scheme and host, no default port and no trailing slash.

    The path keeps its case, because a mint may be served under a case-sensitive prefix.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    if ":" in host:
        netloc = f"[{host}]" if port is None or DEFAULT_PORTS.get(scheme) == port else f"[{host}]:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"
