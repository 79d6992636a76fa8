"""Helpers for tests and the demo. Nothing here is for production use."""
