"""Metrics, structured logs and timers."""
