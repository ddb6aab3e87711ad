"""Counting failed attempts (ASVS-02, ASVS-12, NIST-02): the limiter both systems build on.

Counts live in Django's default cache (Redis in production), keyed by what is being
protected, in a fixed window. A key that reaches its limit stays locked until the window
ends. The limits themselves are policy and live with whoever owns them: the EHR's password
limiter in `ehr/throttle.py`, the ID.me sandbox's limiters in `idme_sandbox.accounts.services`
and `idme_sandbox.operator.services`.
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

    def count(self, subject: str) -> int:
        return int(cache.get(self._key(subject), 0))

    def is_locked(self, subject: str) -> bool:
        return self.count(subject) >= self.limit

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
