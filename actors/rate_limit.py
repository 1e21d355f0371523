"""Rate-limit durable objects: one token bucket per key (an API key id, an IP, a route).

A bucket holds `limit` tokens and refills `limit` per `window` seconds. Buckets are memory only:
after an eviction or restart a bucket starts full, which can only be generous, never lose data.
"""

from __future__ import annotations

from actors.durable import DurableObject, NamespaceSpec

NAME = "rate-limit"


class RateLimit(DurableObject):
    async def on_activate(self) -> None:
        self.tokens: float | None = None
        self.updated = 0.0
        self.limit = 0

    def take(self, limit: int, window: float = 60.0, cost: float = 1.0) -> dict[str, float]:
        """Take `cost` tokens; answer allowed, remaining and, when refused, retry_after seconds."""
        now = self.env.clock()
        if self.tokens is None or limit != self.limit:
            self.tokens, self.limit, self.updated = float(limit), limit, now
        rate = limit / window
        self.tokens = min(float(limit), self.tokens + (now - self.updated) * rate)
        self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return {"allowed": True, "remaining": self.tokens, "retry_after": 0.0}
        return {"allowed": False, "remaining": self.tokens,
                "retry_after": (cost - self.tokens) / rate}


def spec(hosts: int = 1, cohost: str | None = None) -> NamespaceSpec:
    """`hosts` actors of their own, or (`cohost`) one host inside that namespace's first actor."""
    if cohost is not None:
        return NamespaceSpec(NAME, RateLimit, hosts=1, idle_timeout=600.0, cohost=cohost)
    return NamespaceSpec(NAME, RateLimit, hosts=hosts, idle_timeout=600.0)
