"""Per-credential rate limit: a token bucket per credential, in this process's memory."""

from __future__ import annotations

import math
import time


class RateLimiter:
    """Allow `per_minute` requests per credential, refilled continuously, with bursts up to `per_minute`.

    The buckets live in one process, so N replicas allow up to N times the limit in total. The
    limit protects each replica's capacity. The daily withdrawal limit, kept in the database,
    protects the money.
    """

    def __init__(self, per_minute: int):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, credential: str, now: float | None = None) -> float:
        """Take one request from the credential's bucket; return 0, or the seconds to wait before retrying."""
        if self.capacity <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(credential, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[credential] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._buckets[credential] = (tokens - 1.0, now)
        if len(self._buckets) > 100_000:
            self._forget_full(now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely; they carry no state worth keeping."""
        for credential, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.rate >= self.capacity:
                del self._buckets[credential]


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
