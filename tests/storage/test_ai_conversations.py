"""AI conversations on a real tenant database (no Ray): created with a default title, listed
most recently active first with a total, renamed, deleted with their turns; turns appended in
pairs after the last one, all or none."""

from __future__ import annotations

from storage import ai_conversations as conv
from storage.errors import Code
from tests.storage.conftest import call, count, error


def test_create_get_rename_delete(tenant_db):
    made = call(tenant_db, conv.create_conversation, title=None, model=None)
    assert made["title"] == conv.DEFAULT_TITLE and made["messages"] == []
    assert made["message_count"] == 0 and made["conversation_id"] == made["id"]
    renamed = call(tenant_db, conv.update_conversation, conversation_id=made["id"], title=" Trip ")
    assert renamed["title"] == "Trip"
    assert call(tenant_db, conv.get_conversation, conversation_id=made["id"])["title"] == "Trip"
    gone = call(tenant_db, conv.delete_conversation, conversation_id=made["id"])
    assert gone == {"conversation_id": made["id"], "id": made["id"], "deleted": True}
    assert error(tenant_db, conv.get_conversation, conversation_id=made["id"]).code == \
        Code.NOT_FOUND


def test_bad_titles_change_nothing(tenant_db):
    made = call(tenant_db, conv.create_conversation, title="Keep")
    for bad in ("  ", "x" * (conv.MAX_TITLE + 1), 7):
        e = error(tenant_db, conv.update_conversation, conversation_id=made["id"], title=bad)
        assert e.code == Code.VALIDATION_ERROR and e.details["field"] == "title"
    assert call(tenant_db, conv.get_conversation, conversation_id=made["id"])["title"] == "Keep"


def test_list_pages_with_total(tenant_db):
    ids = [call(tenant_db, conv.create_conversation, title=f"c{i}")["id"] for i in range(5)]
    page = call(tenant_db, conv.list_conversations, limit=2, offset=1)
    assert page["total"] == 5 and [c["id"] for c in page["conversations"]] == ids[::-1][1:3]
    assert error(tenant_db, conv.list_conversations, limit=0).details["field"] == "limit"
    assert error(tenant_db, conv.list_conversations, offset=-1).details["field"] == "offset"


def test_turns_append_in_order_and_delete_with_it(tenant_db):
    made = call(tenant_db, conv.create_conversation, title="t")
    for n in range(2):
        call(tenant_db, conv.append_turns, conversation_id=made["id"], turns=[
            {"role": "user", "content": f"q{n}"},
            {"role": "assistant", "content": f"a{n}", "model": "m", "input_tokens": 3,
             "output_tokens": 2, "finish_reason": "stop"}])
    got = call(tenant_db, conv.get_conversation, conversation_id=made["id"])
    assert [m["content"] for m in got["messages"]] == ["q0", "a0", "q1", "a1"]
    assert got["message_count"] == 4 and got["messages"][1]["output_tokens"] == 2
    bad = error(tenant_db, conv.append_turns, conversation_id=made["id"], turns=[
        {"role": "user", "content": "q"}, {"role": "robot", "content": "a"}])
    assert bad.code == Code.VALIDATION_ERROR
    assert count(tenant_db, "ai_messages") == 4  # all or none
    call(tenant_db, conv.delete_conversation, conversation_id=made["id"])
    assert count(tenant_db, "ai_messages") == 0
    assert error(tenant_db, conv.append_turns, conversation_id=made["id"],
                 turns=[]).code == Code.NOT_FOUND
