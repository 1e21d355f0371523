"""The durable-object namespaces a gateway talks to, and the calls it makes on them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors import channels, control_plane, rate_limit, tenant_shard
from actors.durable import BaseNamespace, NamespaceSpec, Stub
from serve.settings import Settings
from storage import tenants


class Services:
    """Tenant shards, the control plane and rate limits, on Ray or in-process."""

    def __init__(self, settings: Settings,
                 make: Callable[[NamespaceSpec, str], BaseNamespace]) -> None:
        self.settings = settings
        self.control = make(control_plane.spec(), settings.data_dir)
        cohost = control_plane.NAME if settings.rate_limit_hosts == 0 else None
        self.limits = make(rate_limit.spec(settings.rate_limit_hosts, cohost), settings.data_dir)
        # Channels and their registries: guests of the control plane's actor (channel_hosts 0),
        # or actors of their own, the registries their guests.
        own = settings.channel_hosts
        self.channels = make(channels.spec(own or 1, None if own else control_plane.NAME),
                             settings.data_dir)
        self.registries = make(channels.registry_spec(own or 1, channels.NAME if own else
                                                      control_plane.NAME), settings.data_dir)
        config = {**shard_config(settings),
                  **channels.shard_config(self.channels, self.registries),
                  **control_plane.shard_config(self.control)}
        self.shards = make(tenant_shard.spec(settings.shard_hosts, settings.shard_idle_timeout,
                                             config), settings.data_dir)

    async def control_run(self, fn: Callable[..., Any], ctx: dict[str, Any] | None = None, /,
                          **kwargs: Any) -> Any:
        """Run a control-plane storage function (its keyword arguments may be named `fn`)."""
        return await self.control.get(control_plane.KEY).call("run", fn, ctx or {}, kwargs)

    def shard(self, tenant_id: str, host: int | None = None) -> Stub:
        """The tenant's shard; `host` is its directory entry when it was moved."""
        return self.shards.get(tenant_id, host)

    async def ready(self) -> dict[str, Any]:
        """Every host of every namespace answers, and the control plane's database opens."""
        hosts = 0
        for ns in self.namespaces():
            hosts += len(await ns.ping_hosts())
        await self.control_run(tenants.ping)
        return {"hosts": hosts}

    def namespaces(self) -> tuple[BaseNamespace, ...]:
        """Every namespace, owners before their guests."""
        return (self.control, self.shards, self.limits, self.channels, self.registries)

    async def take_token(self, bucket: str, limit: int) -> dict[str, Any]:
        return await self.limits.get(bucket).call("take", limit)


def shard_config(settings: Settings) -> dict[str, Any]:
    """What tenant shards read of the settings (webhook delivery, the blob store of backups, the
    mail server of scheduled reports; realtime adds its namespaces)."""
    blobs = {k: getattr(settings, k) for k in ("data_dir", "blob_backend", "s3_endpoint",
                                               "s3_access_key", "s3_secret_key", "s3_bucket",
                                               "s3_region", "s3_secure")}
    return {"allow_private_urls": settings.allow_private_urls,
            "webhook_max_attempts": settings.webhook_max_attempts,
            "webhook_retry_base_s": settings.webhook_retry_base_s, "blobs": blobs,
            "smtp_url": settings.smtp_url}


def ray_services(settings: Settings) -> Services:
    """The services on Ray; hosts are placed by actors/placement.py (the control plane's on
    the head node; the others spread over the nodes unless `spread_hosts` is off: then Ray
    places them)."""
    from actors import placement
    from actors.durable import RayNamespace

    def place(spec: NamespaceSpec, index: int) -> dict[str, Any]:
        if spec.name == control_plane.NAME:
            return placement.host_options(spec, index, head_first=True)
        return placement.host_options(spec, index, False) if settings.spread_hosts else {}

    return Services(settings, lambda spec, data_dir: RayNamespace(spec, data_dir, place))
