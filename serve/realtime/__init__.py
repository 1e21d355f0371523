"""The gateway's side of realtime: each replica holds its WebSocket and SSE connections and
follows the channel objects (actors/channels.py) they subscribe to.

- `hub`: one `Hub` per replica (`app.state.realtime`): connections, feeds, registry reports;
- `feeds`: connections, subscriptions and the one long poll per channel and replica;
- `protocol`: the WebSocket protocol (client messages, channel names, close codes).
"""
