"""A tenant shard in-process on a fake clock, for the tests of its alarm handlers (recurring
entries, scheduled reports): `restart` makes a new namespace over the same data directory, so
the durable alarm is all that carries over."""

from __future__ import annotations

from typing import Any

from actors import tenant_shard
from actors.durable import LocalNamespace


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class AlarmShard:
    def __init__(self, tmp_path, clock: FakeClock, tenant: str, ctx: dict[str, Any],
                 config: dict[str, Any] | None = None) -> None:
        """`config`: the namespace's shard config (as serve/services.py makes it)."""
        self.tmp_path, self.clock, self.tenant, self.ctx = tmp_path, clock, tenant, ctx
        self.config = config
        self.ns = self._namespace()

    def _namespace(self) -> LocalNamespace:
        return LocalNamespace(tenant_shard.spec(1, config=self.config), self.tmp_path,
                              clock=self.clock)

    async def restart(self) -> None:
        await self.ns.close()
        self.ns = self._namespace()

    async def run(self, fn, **kwargs: Any) -> Any:
        return await self.ns.get(self.tenant).call("run", fn, self.ctx, kwargs)

    async def tick(self, seconds: float = 0.0) -> None:
        """Move the clock on and deliver the alarms due by then."""
        self.clock.t += seconds
        await self.ns.hosts[0].tick()
