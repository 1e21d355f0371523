"""The control plane: one durable object (key `control`) holding tenants, plans, the API-key
index, the email→tenant index and the tenant→shard directory in its own DuckDB file."""

from __future__ import annotations

from actors.database import DatabaseObject
from actors.durable import NamespaceSpec

NAME = "control-plane"
KEY = "control"


class ControlPlane(DatabaseObject):
    kind = "control"
    folder = "control"


def spec() -> NamespaceSpec:
    return NamespaceSpec(NAME, ControlPlane, hosts=1, idle_timeout=float("inf"))
