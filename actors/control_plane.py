"""The control plane: one durable object (key `control`) holding tenants, plans, the API-key
index, the email→tenant index and the tenant→shard directory in its own DuckDB file."""

from __future__ import annotations

from typing import Any

from actors.database import DatabaseObject
from actors.durable import BaseNamespace, NamespaceSpec

NAME = "control-plane"
KEY = "control"


class ControlPlane(DatabaseObject):
    kind = "control"
    folder = "control"


def spec() -> NamespaceSpec:
    return NamespaceSpec(NAME, ControlPlane, hosts=1, idle_timeout=float("inf"))


_RAY: dict[str, BaseNamespace] = {}


def shard_config(control: BaseNamespace) -> dict[str, Any]:
    """How a tenant shard reaches the control plane (`tenant_shard.spec(config=...)`): the
    namespace itself in-process; on Ray, a marker (the shard makes its own handle by name)."""
    from actors.durable import RayNamespace

    return {"control": "ray" if isinstance(control, RayNamespace) else control}


def namespace(config: dict[str, Any], data_dir: Any) -> BaseNamespace:
    """The control plane's namespace, as a shard's config names it."""
    ref = config["control"]
    if ref != "ray":
        return ref
    found = _RAY.get(str(data_dir))
    if found is None:
        from actors.durable import RayNamespace

        found = _RAY[str(data_dir)] = RayNamespace(spec(), data_dir)
    return found
