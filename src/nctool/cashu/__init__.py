"""Cashu protocol: crypto, tokens, keysets and fees, and the async mint client."""
