"""Realtime channels: a durable object per tenant and channel (key `<tenant_id>|<channel>`), and a
registry per tenant (key `<tenant_id>`) of what its gateway replicas hold.

A `Channel` numbers the messages it receives (the tenant shard's events, replicas' broadcasts,
presence changes) with consecutive positions and keeps the last `BUFFER` of them, rendered once
as the JSON frame every subscriber gets. Guarantees:
- one instance per key, calls serial (the kernel's input gate), except `poll`, which is `@unlocked`
  so a replica's long poll never holds back a publish;
- a replica polling `after` a position it reached gets every later message, in order, or
  `gap: true` when it cannot: the channel restarted (a new `epoch`: the buffer and presence live in
  memory only) or the replica fell more than `BUFFER` behind. Events are never lost to a gap: the
  replica reads what it missed from the tenant's outbox (serve/realtime/feeds.py);
- replicas hold leases: each poll renews its replica's for the poll's length plus `LEASE_GRACE_S`;
  the presence members of a replica whose lease ran out (it died) leave, announced like any leave.

The `Registry` of a tenant holds each replica's report (its connections and subscriptions per
channel) under a lease the replica renews; a replica that stops renewing drops out. It answers
`/v1/realtime/stats` and tells the shard's sink which channels have subscribers, so events go only
to channels someone listens to. Neither kind sets alarms (leases lapse lazily), so both can live as
guests in another namespace's host actors (`NamespaceSpec.cohost`).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import deque
from typing import Any

from actors.durable import BaseNamespace, DurableObject, NamespaceSpec, unlocked

NAME = "channel"
REGISTRY = "channel-registry"
FIREHOSE = "*"  # every event of the tenant (the default SSE stream); not a client channel
BUFFER = 1000  # messages a channel keeps for replicas that poll behind
LEASE_GRACE_S = 10.0  # a replica's lease outlives its poll by this much
YOUNG_S = 15.0  # a registry this fresh cannot know every subscription yet (> a report's renewal)
MAX_POLL_S = 60.0


def key(tenant_id: str, channel: str) -> str:
    return f"{tenant_id}|{channel}"


def event_frame(channel: str, event: dict[str, Any]) -> str:
    """The frame (JSON text) of an event on a channel, for WebSocket and SSE alike; on the
    firehose, the event's own (first) channel."""
    if channel == FIREHOSE:
        channel = (event["channels"] or [FIREHOSE])[0]
    frame = {"type": "event", "channel": channel, "id": event["id"], "event": event["type"],
             "data": event["data"], "ts": event["created_at"]}
    if "previous" in event:
        frame["previous"] = event["previous"]
    return _dumps(frame)


def presence_state(channel: str, members: list[dict[str, Any]]) -> str:
    """The frame listing a presence channel's members."""
    return _dumps({"type": "presence", "channel": channel, "event": "state", "members": members})


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


class Channel(DurableObject):
    """One channel of one tenant: a numbered ring buffer of frames, long-polled by replicas."""

    async def on_activate(self) -> None:
        self.epoch = secrets.token_hex(8)
        self.position = 0
        self.buffer: deque[dict[str, Any]] = deque(maxlen=BUFFER)
        self.leases: dict[str, float] = {}  # replica id -> when its lease ends
        self.members: dict[str, dict[str, Any]] = {}  # connection id -> presence member
        self._changed = asyncio.Event()

    @property
    def name(self) -> str:
        return self.key.split("|", 1)[1]

    def _append(self, kind: str, text: str, **fields: Any) -> None:
        self.position += 1
        self.buffer.append({"pos": self.position, "kind": kind, "text": text, **fields})
        self._changed.set()
        self._changed = asyncio.Event()

    def publish(self, events: list[dict[str, Any]]) -> int:
        """Append the tenant's events (in id order); the position reached."""
        self._expire()
        for e in events:
            self._append("event", event_frame(self.name, e), id=e["id"],
                         resource=e["resource_type"])
        return self.position

    def broadcast(self, sender: str, payload: Any, event: str | None = None) -> int:
        """Append a client's broadcast; every subscriber but `sender` (a connection) gets it."""
        frame: dict[str, Any] = {"type": "broadcast", "channel": self.name, "payload": payload}
        if event is not None:
            frame["event"] = event
        self._append("broadcast", _dumps(frame), sender=sender)
        return self.position

    def attach(self, replica_id: str, timeout: float = 0.0) -> dict[str, Any]:
        """A replica starts following the channel: where to poll from."""
        self._expire()
        self._lease(replica_id, timeout)
        return {"epoch": self.epoch, "position": self.position}

    def detach(self, replica_id: str) -> None:
        """A replica stopped following the channel: its lease ends, its members leave."""
        self.leases.pop(replica_id, None)
        self._drop_members(replica_id)

    @unlocked
    async def poll(self, replica_id: str, epoch: str | None, after: int,
                   timeout: float) -> dict[str, Any]:
        """Messages after position `after`, waiting up to `timeout` seconds for one."""
        timeout = max(0.0, min(float(timeout), MAX_POLL_S))
        self._lease(replica_id, timeout)
        self._expire()
        gap = epoch != self.epoch or after > self.position or \
            (self.buffer and after < self.buffer[0]["pos"] - 1) or \
            (not self.buffer and after < self.position)
        if gap:
            after = self.buffer[0]["pos"] - 1 if self.buffer else self.position
        elif after == self.position and timeout > 0:
            changed = self._changed
            try:
                async with asyncio.timeout(timeout):
                    await changed.wait()
            except TimeoutError:
                pass
        messages = [m for m in self.buffer if m["pos"] > after]
        return {"epoch": self.epoch, "position": self.position, "messages": messages,
                "gap": bool(gap)}

    # -- presence (channels `presence:<name>`)
    def track(self, replica_id: str, member: dict[str, Any]) -> None:
        """A connection joins (or updates its state): every subscriber gets a `join` frame."""
        self._expire()
        self._lease(replica_id, 0.0)
        known = self.members.get(member["id"])
        if known is not None:  # a state update: the member keeps the time it joined
            member = {**member, "joined_at": known["joined_at"]}
        self.members[member["id"]] = {**member, "replica": replica_id}
        self._presence("join", member)

    def untrack(self, connection_id: str) -> None:
        """A connection leaves: every subscriber gets a `leave` frame."""
        member = self.members.pop(connection_id, None)
        if member is not None:
            self._presence("leave", member)

    def present(self) -> dict[str, Any]:
        """The members now, and the position the list is as of."""
        self._expire()
        return {"members": [_public(m) for m in self.members.values()],
                "epoch": self.epoch, "position": self.position}

    def _presence(self, event: str, member: dict[str, Any]) -> None:
        frame = {"type": "presence", "channel": self.name, "event": event,
                 "member": _public(member)}
        self._append("presence", _dumps(frame))

    # -- leases
    def _lease(self, replica_id: str, timeout: float) -> None:
        self.leases[replica_id] = self.env.clock() + timeout + LEASE_GRACE_S

    def _expire(self) -> None:
        now = self.env.clock()
        for replica_id in [r for r, until in self.leases.items() if until < now]:
            del self.leases[replica_id]
            self._drop_members(replica_id)

    def _drop_members(self, replica_id: str) -> None:
        for member in [m for m in self.members.values() if m["replica"] == replica_id]:
            self.untrack(member["id"])


def _public(member: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in member.items() if k != "replica"}


class Registry(DurableObject):
    """A tenant's realtime connections and subscriptions, as its replicas report them."""

    async def on_activate(self) -> None:
        self.reports: dict[str, dict[str, Any]] = {}
        self.born = self.env.clock()

    def report(self, replica_id: str, connections: int, channels: dict[str, int],
               lease: float) -> None:
        """A replica's connections and subscriber counts per channel, valid for `lease` s."""
        if connections <= 0 and not channels:
            self.reports.pop(replica_id, None)
            return
        self.reports[replica_id] = {"connections": connections, "channels": dict(channels),
                                    "until": self.env.clock() + lease}

    def drop(self, replica_id: str) -> None:
        self.reports.pop(replica_id, None)

    def _live(self) -> list[dict[str, Any]]:
        now = self.env.clock()
        for replica_id in [r for r, rep in self.reports.items() if rep["until"] < now]:
            del self.reports[replica_id]
        return list(self.reports.values())

    def stats(self) -> dict[str, Any]:
        """Connections and subscribers per channel, over every live replica."""
        channels: dict[str, int] = {}
        total = 0
        for rep in self._live():
            total += rep["connections"]
            for channel, n in rep["channels"].items():
                channels[channel] = channels.get(channel, 0) + n
        return {"total_connections": total, "channels": dict(sorted(channels.items())),
                "channel_count": len(channels)}

    def live(self, channels: list[str]) -> list[str]:
        """Those of `channels` with a subscriber somewhere (all of them while this registry is
        younger than a report's renewal: it may not have heard from every replica yet)."""
        if self.env.clock() - self.born < YOUNG_S:
            return list(channels)
        held = {c for rep in self._live() for c in rep["channels"]}
        return [c for c in channels if c in held]


def spec(hosts: int = 1, cohost: str | None = None) -> NamespaceSpec:
    """Channels on `hosts` actors of their own, or (`cohost`) inside that namespace's actors."""
    return NamespaceSpec(NAME, Channel, hosts=hosts, idle_timeout=120.0, cohost=cohost)


def registry_spec(hosts: int = 1, cohost: str | None = None) -> NamespaceSpec:
    return NamespaceSpec(REGISTRY, Registry, hosts=hosts, idle_timeout=300.0, cohost=cohost)


# -- the tenant shard's side ------------------------------------------------------------------
_RAY: dict[tuple, tuple[BaseNamespace, BaseNamespace]] = {}  # per process, on Ray


def shard_config(channels: BaseNamespace, registries: BaseNamespace) -> dict[str, Any]:
    """What a tenant shard is given to reach the channels (`tenant_shard.spec(config=...)`): the
    namespaces themselves in-process; on Ray, their specs (the shard builds its own)."""
    from actors.durable import RayNamespace

    if isinstance(channels, RayNamespace):
        return {"realtime": ("ray", channels.spec, registries.spec, channels.data_dir)}
    return {"realtime": (channels, registries)}


def namespaces(config: dict[str, Any]) -> tuple[BaseNamespace, BaseNamespace] | None:
    """The channel and registry namespaces a shard's config names (None: realtime is off)."""
    ref = config.get("realtime")
    if ref is None or ref[0] != "ray":
        return ref
    _, channel_spec, registry_spec_, data_dir = ref
    cache_key = (channel_spec.hosts, channel_spec.cohost, registry_spec_.cohost, data_dir)
    found = _RAY.get(cache_key)
    if found is None:
        from actors.durable import RayNamespace

        found = _RAY[cache_key] = (RayNamespace(channel_spec, data_dir),
                                   RayNamespace(registry_spec_, data_dir))
    return found


def by_channel(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The events each channel gets, in id order; every event also reaches the firehose."""
    out: dict[str, list[dict[str, Any]]] = {FIREHOSE: list(events)}
    for e in events:
        for channel in dict.fromkeys(e["channels"] or []):
            out.setdefault(channel, []).append(e)
    return out


async def publish(shard: Any, events: list[dict[str, Any]]) -> None:
    """The shard's realtime sink: each channel with subscribers gets this batch's events for it in
    one call. Raises when a channel cannot be reached (the shard retries the batch)."""
    found = namespaces(shard.env.config)
    if found is None:
        return
    channels, registries = found
    grouped = by_channel(events)
    live = await registries.get(shard.key).call("live", list(grouped))
    await asyncio.gather(*(channels.get(key(shard.key, c)).call("publish", grouped[c])
                           for c in live))
