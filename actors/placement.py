"""Where durable-object hosts run on a Ray cluster: the placement policy.

- The control plane's actor (with the namespaces it co-hosts: rate limits and channels by
  default) prefers the head node, which holds Ray's own control state: losing the head stops the
  cluster anyway.
- Host `i` of every other namespace (tenant shards, and rate limits or channels with hosts of
  their own) prefers node `i mod n` of the `n` alive nodes, ordered by address: tenants hash
  evenly over hosts, so they spread evenly over nodes.
- Preferred, not pinned (a label selector with a fallback to any node): a host whose node is
  lost restarts on a surviving node (the data directory is one every node reaches: README,
  Running on a cluster). Before that, as soon as Ray has the lost host's process for gone, the
  gateways have live hosts take its tenants over (`RayNamespace.failover`). A node that joins or
  comes back takes the hosts created from then on; `rebalance` moves the others back, and
  `return_adopted` the tenants taken over.

On one machine there is one node and this changes nothing.
"""

from __future__ import annotations

from typing import Any

from actors import control_plane, tenant_shard
from actors.durable import NamespaceSpec

HEAD_RESOURCE = "node:__internal_head__"
NODE_LABEL = "ray.io/node-id"  # every node's default label
CONTROL, SHARDS = control_plane.NAME, tenant_shard.NAME


def alive_nodes() -> list[dict[str, Any]]:
    """The cluster's alive nodes, ordered by address (a node that comes back keeps its place)."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return sorted(nodes, key=lambda n: (n["NodeManagerAddress"], n["NodeManagerPort"]))


def preferred_node(spec: NamespaceSpec, index: int, head_first: bool,
                   nodes: list[dict[str, Any]] | None = None) -> str | None:
    """The node id host `index` of `spec` should run on now (None: no node is alive)."""
    nodes = alive_nodes() if nodes is None else nodes
    if not nodes:
        return None
    if head_first:
        heads = [n for n in nodes if HEAD_RESOURCE in n.get("Resources", {})]
        return (heads or nodes)[0]["NodeID"]
    return nodes[index % len(nodes)]["NodeID"]


def host_options(spec: NamespaceSpec, index: int, head_first: bool) -> dict[str, Any]:
    """Ray actor options placing host `index` of `spec` on its preferred node, softly: a label
    selector on the node's id, falling back to any node. (Ray 2.60's soft node affinity,
    tried first, placed two 0-CPU actors of four on the other node of a two-node cluster.)"""
    node = preferred_node(spec, index, head_first)
    if node is None:
        return {}
    return {"label_selector": {NODE_LABEL: node}, "fallback_strategy": [{"label_selector": {}}]}


async def layout(namespaces: list[Any]) -> dict[str, Any]:
    """Which node runs which host, and how many objects (tenants, for shards) each holds now:
    `raybase status` and `GET /admin/v1/cluster`."""
    nodes = alive_nodes() if _on_ray() else []
    hosts = []
    for ns in namespaces:
        head_first = ns.spec.name == CONTROL
        for report in await ns.ping_hosts():
            want = preferred_node(ns.spec, report["index"], head_first, nodes) if nodes else None
            hosts.append({**report, "namespace": ns.spec.name, "hosted_in": ns.spec.cohost,
                          "preferred_node_id": want})
    listed = []
    for n in nodes:
        mine = [h for h in hosts if h.get("node_id") == n["NodeID"]]
        listed.append({"node_id": n["NodeID"], "address": n["NodeManagerAddress"],
                       "head": HEAD_RESOURCE in n.get("Resources", {}),
                       "hosts": len([h for h in mine if not h["hosted_in"]]),
                       "tenants_active": sum(h["active"] for h in mine
                                             if h["namespace"] == SHARDS)})
    return {"nodes": listed, "hosts": hosts}


async def rebalance(namespaces: list[Any]) -> list[dict[str, Any]]:
    """Move every host that runs away from its preferred node (a node came back or joined) to
    that node: its objects are evicted (files closed), the actor is stopped and made again
    there. Calls in flight meanwhile answer 503 with Retry-After; later ones wait for the new
    host. The hosts moved."""
    if not _on_ray():
        return []
    nodes = alive_nodes()
    moved = []
    for ns in namespaces:
        if ns.spec.cohost:  # lives in its owner's actor: moves with it
            continue
        head_first = ns.spec.name == CONTROL
        for report in await ns.ping_hosts():
            want = preferred_node(ns.spec, report["index"], head_first, nodes)
            if want is not None and report.get("node_id") != want:
                await ns.move_host(report["index"])
                moved.append({"namespace": ns.spec.name, "index": report["index"],
                              "from_node_id": report.get("node_id"), "to_node_id": want})
    return moved


async def return_adopted(namespaces: list[Any]) -> list[dict[str, Any]]:
    """Move every object a live host took over from a lost one (`RayNamespace.failover`) back
    to the host it hashes to, now that it runs again (after `rebalance`): the moves made."""
    returned = []
    for ns in namespaces:
        if not ns.spec.fails_over:
            continue
        for key, host, home in await ns.adopted():
            moved = await ns.move(key, home, host)
            returned.append({"namespace": ns.spec.name, "key": key, "from_host": host,
                             "to_host": home, "moved": moved["moved"]})
    return returned


def _on_ray() -> bool:
    import ray

    return ray.is_initialized()
