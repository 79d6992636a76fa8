"""Nostr helpers."""
