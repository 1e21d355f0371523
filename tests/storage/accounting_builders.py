"""Builders for the books in a storage test's database: accounts and posted entries."""

from __future__ import annotations

from typing import Any

from storage.accounting import journal, ledger
from storage.db import Database, utcnow
from tests.storage.conftest import CTX


def _make_account(db: Any, ctx: dict[str, Any], *, code: str, kind: str,
                  sub_type: str | None) -> dict[str, Any]:
    now = utcnow()
    row = {"id": f"acc_{code.lower()}", "code": code, "name": f"Account {code}", "type": kind,
           "sub_type": sub_type, "parent_id": None, "description": None, "currency": None,
           "is_active": True, "is_system": False, "created_at": now, "updated_at": now}
    ledger.save_account(db, row, True)
    return row


def account(db: Database, code: str, kind: str, sub_type: str | None = None) -> str:
    """Make an active account (id `acc_<code>`); its id."""
    return db.run(_make_account, CTX, {"code": code, "kind": kind, "sub_type": sub_type})["id"]


def entry(db: Database, on: str, *pairs: tuple[str, str, str], post: bool = True,
          **fields: Any) -> dict[str, Any]:
    """A journal entry of (account_id, "debit"|"credit", amount) lines."""
    lines = [{"account_id": acc, side: amount} for acc, side, amount in pairs]
    body = {"date": on, "lines": lines, "post": post, **fields}
    return db.run(journal.create_journal_entry, CTX, {"body": body})
