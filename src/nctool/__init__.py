"""nctool: a Cashu ecash wallet service for Nostr users, built around a crash-safe melt."""

__version__ = "0.1.0"
