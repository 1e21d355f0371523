"""AI conversations of a tenant: a title, the model it talks to, and its turns in order.

The chat route generates first and only then appends the user's turn and the assistant's answer
together (`append_turns`, one transaction): a failed generation stores nothing, and two chats on
one conversation at once each append their pair whole, in the order they committed.
"""

from __future__ import annotations

from typing import Any

from storage.db import Tx, iso, utcnow
from storage.errors import invalid, not_found
from storage.ids import new_id
from storage.paging import clamp_limit

MAX_TITLE = 200  # characters
MAX_OFFSET = 100_000
ROLES = ("user", "assistant", "system")
DEFAULT_TITLE = "New conversation"

SELECT_ONE = "SELECT * FROM ai_conversations WHERE id = ?"
LIST = "SELECT * FROM ai_conversations ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?"
COUNT = "SELECT count(*) FROM ai_conversations"
MESSAGES = "SELECT * FROM ai_messages WHERE conversation_id = ? ORDER BY seq"
COUNT_TURNS = "UPDATE ai_conversations SET messages = ?, updated_at = ? WHERE id = ?"


def out(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "conversation_id": row["id"], "title": row["title"],
            "model": row["model"], "message_count": row["messages"],
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def message_out(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "role": row["role"], "content": row["content"],
            "model": row["model"], "input_tokens": row["input_tokens"],
            "output_tokens": row["output_tokens"], "finish_reason": row["finish_reason"],
            "created_at": iso(row["created_at"])}


def _title(value: Any) -> str:
    if value is None:
        return DEFAULT_TITLE
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TITLE:
        raise invalid(f"title must be a non-blank string of at most {MAX_TITLE} characters",
                      "title")
    return value.strip()


def _load(db: Tx, conversation_id: str) -> dict[str, Any]:
    row = db.query_one(SELECT_ONE, [conversation_id])
    if row is None:
        raise not_found("conversation", conversation_id)
    return row


def create_conversation(db: Tx, ctx: dict[str, Any], *, title: Any = None,
                        model: str | None = None) -> dict[str, Any]:
    """A new, empty conversation (`model`: checked by the caller; None: the local default)."""
    now = utcnow()
    row = {"id": new_id("conv"), "title": _title(title), "model": model, "messages": 0,
           "created_at": now, "updated_at": now}
    db.insert("ai_conversations", row)
    return {**out(row), "messages": []}


def list_conversations(db: Tx, ctx: dict[str, Any], *, limit: int | None = None,
                       offset: int = 0) -> dict[str, Any]:
    """The conversations, most recently active first, `offset` skipped; `total` counts all."""
    limit = clamp_limit(limit)
    if not 0 <= offset <= MAX_OFFSET:
        raise invalid(f"offset must be between 0 and {MAX_OFFSET}", "offset")
    rows = db.query(LIST, [limit, offset])
    return {"conversations": [out(r) for r in rows], "total": db.scalar(COUNT),
            "limit": limit, "offset": offset}


def get_conversation(db: Tx, ctx: dict[str, Any], *, conversation_id: str) -> dict[str, Any]:
    """The conversation with its turns in order, or 404."""
    row = _load(db, conversation_id)
    return {**out(row), "messages": [message_out(m) for m in db.query(MESSAGES, [row["id"]])]}


def update_conversation(db: Tx, ctx: dict[str, Any], *, conversation_id: str,
                        title: Any = None) -> dict[str, Any]:
    """Rename the conversation (its turns are unchanged)."""
    if title is None:
        raise invalid("title is required", "title")
    row = {**_load(db, conversation_id), "title": _title(title), "updated_at": utcnow()}
    db.update("ai_conversations", row)
    return out(row)


def delete_conversation(db: Tx, ctx: dict[str, Any], *, conversation_id: str) -> dict[str, Any]:
    """Delete the conversation and its turns."""
    row = _load(db, conversation_id)
    db.delete("ai_messages", "conversation_id", row["id"])
    db.delete("ai_conversations", "id", row["id"])
    return {"conversation_id": row["id"], "id": row["id"], "deleted": True}


def append_turns(db: Tx, ctx: dict[str, Any], *, conversation_id: str,
                 turns: list[dict[str, Any]]) -> dict[str, Any]:
    """Append turns after the last one, all or none (404 if the conversation went meanwhile).
    Each turn: role, content, and for an answer model, input_tokens, output_tokens,
    finish_reason."""
    row = _load(db, conversation_id)
    now = utcnow()
    for i, turn in enumerate(turns):
        if turn.get("role") not in ROLES or not isinstance(turn.get("content"), str):
            raise invalid(f"turns[{i}] needs a role of {', '.join(ROLES)} and a content",
                          "turns")
        db.insert("ai_messages", {
            "id": new_id("msg"), "conversation_id": row["id"], "seq": row["messages"] + i,
            "role": turn["role"], "content": turn["content"], "model": turn.get("model"),
            "input_tokens": turn.get("input_tokens"), "output_tokens": turn.get("output_tokens"),
            "finish_reason": turn.get("finish_reason"), "created_at": now})
    db.execute("ai_conversations", COUNT_TURNS, [row["messages"] + len(turns), now, row["id"]])
    return {**out({**row, "messages": row["messages"] + len(turns), "updated_at": now})}
