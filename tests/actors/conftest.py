"""Fixtures the actor tests share."""

from __future__ import annotations

import pytest

from actors import tenant_shard
from actors.durable import LocalNamespace


@pytest.fixture
async def shards(tmp_path):
    """Makes local tenant-shard namespaces over one data dir (a second one over the same dir is
    a restart), and closes them all at the end."""
    made: list[LocalNamespace] = []

    def make() -> LocalNamespace:
        ns = LocalNamespace(tenant_shard.spec(1), tmp_path)
        made.append(ns)
        return ns

    yield make
    for ns in made:
        await ns.close()
