"""Saved reports: a named search, aggregate or report request (`type` + `config_json`, checked
on save by running it, storage/report_runs.py), run on demand or on a cron `schedule`.

A run keeps its answer as the last run (`last_run_at`, `last_result`). Scheduled reports are run
by the tenant shard's alarm (actors/saved_report_schedule.py) through `run_due_reports`: each
report due by now runs once and its `next_run_at` moves to the first cron time after now, so
slots missed while the service was down run once, not once per slot. A scheduled run that fails
(its type was deleted since) keeps `last_error` and stays scheduled.

A scheduled run that succeeds, of a report with `recipients`, is marked `mail_pending` in its
commit; the shard then mails the export (`export_format`, csv by default) outside the
transaction (`pending_mails`) and records the outcome (`record_mail`: `last_mailed_at`,
`last_mail_error`), which clears the mark. A manual run is not mailed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

from storage import report_runs
from storage.audit import audited
from storage.auth import config as auth_config
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, invalid, not_found
from storage.ids import new_id
from storage.paging import clamp_limit

TYPES = report_runs.KINDS
MAX_NAME, MAX_DESCRIPTION, MAX_RECIPIENTS, MAX_CRON = 200, 2000, 50, 200
EXPORT_FORMATS = ("csv", "json", "xlsx", "pdf")  # of the mailed export (report_files.export_file)
DEFAULT_FORMAT = "csv"
MAX_MAIL_ERROR = 1000
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s.]{1,63}$")

SELECT_ONE = "SELECT * FROM saved_reports WHERE id = ?"
SELECT_PAGE = "SELECT * FROM saved_reports ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
SELECT_SCHEDULED = """
SELECT * FROM saved_reports WHERE next_run_at IS NOT NULL ORDER BY next_run_at, id
"""
SELECT_MAIL_PENDING = "SELECT * FROM saved_reports WHERE mail_pending ORDER BY last_run_at, id"
COUNT_MAIL_PENDING = "SELECT count(*) FROM saved_reports WHERE mail_pending"


def out(row: dict[str, Any], result: bool = True) -> dict[str, Any]:
    answer = {"id": row["id"], "name": row["name"], "description": row["description"],
              "type": row["type"], "config_json": report_runs.loads(row["config_json"]),
              "schedule": row["schedule"], "recipients": report_runs.loads(row["recipients"]),
              "next_run_at": iso(row["next_run_at"]), "last_run_at": iso(row["last_run_at"]),
              "last_error": row["last_error"],
              "export_format": row.get("export_format") or DEFAULT_FORMAT,
              "last_mailed_at": iso(row.get("last_mailed_at")),
              "last_mail_error": row.get("last_mail_error"), "created_at": iso(row["created_at"]),
              "updated_at": iso(row["updated_at"])}
    if result:
        answer["last_result"] = report_runs.loads(row["last_result"])
    return answer


def next_run(schedule: str, after: datetime) -> datetime:
    """The first time `schedule` (a 5-field cron, UTC) fires strictly after `after`."""
    return croniter(schedule, after).get_next(datetime)


def _schedule(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_CRON or len(value.split()) != 5:
        raise invalid("schedule must be a cron expression of 5 fields (UTC), or null",
                      "schedule")
    try:
        next_run(value, utcnow())
    except (ValueError, KeyError, OverflowError, TypeError):
        raise invalid(f"schedule '{value}' is not a valid cron expression", "schedule") from None
    return value


def _recipients(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_RECIPIENTS:
        raise invalid(f"recipients must be a list of at most {MAX_RECIPIENTS} emails",
                      "recipients")
    for i, email in enumerate(value):
        if not isinstance(email, str) or not _EMAIL.match(email):
            raise invalid(f"recipients[{i}] must be an email address", f"recipients[{i}]")
    return list(dict.fromkeys(value))


def _export_format(value: Any) -> str:
    if value is None:
        return DEFAULT_FORMAT
    if value not in EXPORT_FORMATS:
        raise invalid(f"export_format must be one of {', '.join(EXPORT_FORMATS)}",
                      "export_format")
    return value


def _config(db: Tx, ctx: dict[str, Any], kind: Any, config: Any) -> str:
    if kind not in TYPES:
        raise invalid(f"type must be one of {', '.join(TYPES)}", "type")
    if not isinstance(config, dict):
        raise invalid("config_json must be an object", "config_json")
    report_runs.check_config(db, ctx, kind, config)
    return report_runs.dumps(config)


def _find(db: Tx, report_id: str) -> dict[str, Any]:
    row = db.query_one(SELECT_ONE, [report_id])
    if row is None:
        raise not_found("saved report", report_id)
    return row


def list_saved_reports(db: Tx, ctx: dict[str, Any], *, limit: int | None = None,
                       offset: int = 0) -> list[dict[str, Any]]:
    """The tenant's saved reports, newest first (without their last result)."""
    if not isinstance(offset, int) or offset < 0:
        raise invalid("offset must be a non-negative integer", "offset")
    return [out(r, result=False) for r in db.query(SELECT_PAGE, [clamp_limit(limit), offset])]


@audited("saved_report.create", "saved_report")
def create_saved_report(db: Tx, ctx: dict[str, Any], *, name: Any, type: Any, config_json: Any,
                        description: Any = None, schedule: Any = None,
                        recipients: Any = None, export_format: Any = None) -> dict[str, Any]:
    now = utcnow()
    row = {"id": new_id("srp"), "name": report_runs.text(name, "name", MAX_NAME, required=True),
           "description": report_runs.text(description, "description", MAX_DESCRIPTION),
           "type": type,
           "config_json": _config(db, ctx, type, config_json), "schedule": _schedule(schedule),
           "recipients": report_runs.dumps(_recipients(recipients)), "next_run_at": None,
           "last_run_at": None, "last_result": None, "last_error": None,
           "export_format": _export_format(export_format), "mail_pending": False,
           "last_mailed_at": None, "last_mail_error": None, "created_at": now,
           "updated_at": now}
    row["next_run_at"] = next_run(row["schedule"], now) if row["schedule"] else None
    db.insert("saved_reports", row)
    return out(row)


def get_saved_report(db: Tx, ctx: dict[str, Any], *, report_id: str) -> dict[str, Any]:
    return out(_find(db, report_id))


@audited("saved_report.update", "saved_report")
def update_saved_report(db: Tx, ctx: dict[str, Any], *, report_id: str,
                        changes: dict[str, Any]) -> dict[str, Any]:
    """Change the given fields; a new type or config is checked as on create, a new schedule
    restarts from now."""
    row = dict(_find(db, report_id))
    if "name" in changes:
        row["name"] = report_runs.text(changes["name"], "name", MAX_NAME, required=True)
    if "description" in changes:
        row["description"] = report_runs.text(changes["description"], "description",
                                              MAX_DESCRIPTION)
    if "recipients" in changes:
        row["recipients"] = report_runs.dumps(_recipients(changes["recipients"]))
    if "export_format" in changes:
        row["export_format"] = _export_format(changes["export_format"])
    if "type" in changes or "config_json" in changes:
        if "config_json" not in changes and changes["type"] != row["type"]:
            raise invalid("config_json is required when type changes", "config_json")
        row["type"] = changes.get("type", row["type"])
        config = changes.get("config_json", report_runs.loads(row["config_json"]))
        row["config_json"] = _config(db, ctx, row["type"], config)
    now = utcnow()
    if "schedule" in changes:
        row["schedule"] = _schedule(changes["schedule"])
        row["next_run_at"] = next_run(row["schedule"], now) if row["schedule"] else None
    row["updated_at"] = now
    db.update("saved_reports", row)
    return out(row)


@audited("saved_report.delete", "saved_report")
def delete_saved_report(db: Tx, ctx: dict[str, Any], *, report_id: str) -> dict[str, Any]:
    _find(db, report_id)
    db.delete("saved_reports", "id", report_id)
    return {"id": report_id, "deleted": True}


def report_result(db: Tx, ctx: dict[str, Any], *, report_id: str) -> dict[str, Any]:
    """The report run now, read-only (exports): its name, type and result (the report of
    storage/report_files.py)."""
    row = _find(db, report_id)
    config = report_runs.loads(row["config_json"])
    result = report_runs.run_config(db, ctx, row["type"], config)
    return {"id": row["id"], "name": row["name"], "type": row["type"], "ran_at": iso(utcnow()),
            "result": result}


@audited("saved_report.run", "saved_report", id_from="report_id")
def run_saved_report(db: Tx, ctx: dict[str, Any], *, report_id: str) -> dict[str, Any]:
    """Run the report now and keep the answer as its last run."""
    row = dict(_find(db, report_id))
    now = utcnow()
    result = report_runs.run_config(db, ctx, row["type"], report_runs.loads(row["config_json"]))
    row.update(last_run_at=now, last_result=report_runs.dumps(result), last_error=None)
    db.update("saved_reports", row)
    return {"id": row["id"], "type": row["type"], "last_run_at": iso(now), "result": result}


def run_due_reports(db: Tx, ctx: dict[str, Any], *, now: float) -> dict[str, Any]:
    """Run every scheduled report due by `now` (epoch s) once, keep its result or error, move
    it to its next cron time after `now`; the ids run, whether any run waits to be mailed
    (`pending_mails`) and the next time any report is due."""
    at = datetime.fromtimestamp(now, UTC).replace(tzinfo=None)
    ran, upcoming, ran_rows = [], [], []
    for row in db.query(SELECT_SCHEDULED):
        row = dict(row)
        if row["next_run_at"] > at:
            upcoming.append(row["next_run_at"])
            continue
        try:
            result = report_runs.run_config(db, ctx, row["type"],
                                            report_runs.loads(row["config_json"]))
            row.update(last_result=report_runs.dumps(result), last_error=None,
                       mail_pending=bool(report_runs.loads(row["recipients"])))
        except ApiError as exc:
            row["last_error"] = exc.message
        row.update(last_run_at=at, next_run_at=next_run(row["schedule"], at))
        upcoming.append(row["next_run_at"])
        db.update("saved_reports", row)
        ran.append(row["id"])
        ran_rows.append(row)
    soonest = min(upcoming, default=None)
    marked = any(r["mail_pending"] for r in ran_rows)
    return {"ran": ran, "mail_pending": marked or bool(db.scalar(COUNT_MAIL_PENDING)),
            "next_run": None if soonest is None else soonest.replace(tzinfo=UTC).timestamp()}


def pending_mails(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """The scheduled runs to mail: per report its `report` (the run kept, in the shape of
    `report_result`: what storage/report_files.py renders), `recipients`, `export_format` and
    the sender (the `from` of the tenant's auth email config)."""
    rows = db.query(SELECT_MAIL_PENDING)
    if not rows:
        return []
    sender = (auth_config.load_config(db).get("email") or {}).get("from")
    return [{"report": {"id": r["id"], "name": r["name"], "type": r["type"],
                        "ran_at": iso(r["last_run_at"]),
                        "result": report_runs.loads(r["last_result"])},
             "recipients": report_runs.loads(r["recipients"]),
             "export_format": r["export_format"] or DEFAULT_FORMAT, "from": sender}
            for r in rows]


def record_mail(db: Tx, ctx: dict[str, Any], *, report_id: str, mailed_at: float,
                error: str | None = None) -> bool:
    """Record the outcome of mailing the report's pending run (`error`: why it was not sent;
    `last_mailed_at` stays the last mail that went) and clear the mark; False when the report
    is gone."""
    row = db.query_one(SELECT_ONE, [report_id])
    if row is None:
        return False
    at = datetime.fromtimestamp(mailed_at, UTC).replace(tzinfo=None)
    db.update("saved_reports", {**row, "mail_pending": False,
                                "last_mailed_at": row["last_mailed_at"] if error else at,
                                "last_mail_error": error[:MAX_MAIL_ERROR] if error else None})
    return True
