"""Counting failed attempts (ASVS-02, NIST-02): the one limiter used for sign-in and codes.

Counts live in the cache (Redis in production), keyed by what is being protected, in a
fixed window. A key that reaches its limit stays locked until the window ends.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class AttemptLimiter:
    scope: str
    limit: int
    window_seconds: int

    def _key(self, subject: str) -> str:
        digest = hashlib.sha256(subject.lower().encode()).hexdigest()[:32]
        return f"attempts:{self.scope}:{digest}"

    def is_locked(self, subject: str) -> bool:
        return int(cache.get(self._key(subject), 0)) >= self.limit

    def failure(self, subject: str) -> int:
        key = self._key(subject)
        if cache.add(key, 1, self.window_seconds):
            return 1
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, self.window_seconds)
            return 1

    def reset(self, subject: str) -> None:
        cache.delete(self._key(subject))


# Sign-in: 10 failures for one username in 15 minutes lock that username for the rest of the window.
LOGIN_LIMITER = AttemptLimiter("login", limit=10, window_seconds=15 * 60)
