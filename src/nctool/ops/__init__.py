"""Operator-side jobs: the background worker, recovery, reconciliation and maintenance."""
