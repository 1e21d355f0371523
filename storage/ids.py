"""Prefixed, time-sortable identifiers: `<prefix>_<12 hex ms clock><10 hex random>`."""

from __future__ import annotations

import secrets
import threading
import time

_lock = threading.Lock()
_last = [0, 0]


def new_id(prefix: str) -> str:
    """A new id; ids made by one process sort by creation time, even within a millisecond."""
    with _lock:
        ms = int(time.time() * 1000)
        if ms <= _last[0]:
            ms = _last[0]
            _last[1] += 1
            tail = _last[1]
        else:
            _last[0] = ms
            tail = _last[1] = secrets.randbits(30)
    return f"{prefix}_{ms:012x}{tail & 0xFFFFFFFFFF:010x}"


def new_token(prefix: str = "rb", nbytes: int = 24) -> str:
    """An unguessable secret token."""
    return f"{prefix}_{secrets.token_urlsafe(nbytes)}"
