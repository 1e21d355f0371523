"""Exports in storage: starting one (checks, limit, audit), its states, pages by id (whole rows
or typed columns), and the json, csv and parquet files the pages make."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from storage import exports, imports, objects
from storage.errors import Code
from tests.storage.conftest import CTX, call, count, error, make_obj, make_type, sql

PROPS = [
    {"name": "title", "data_type": "string"}, {"name": "score", "data_type": "integer"},
    {"name": "rating", "data_type": "number"}, {"name": "price", "data_type": "currency"},
    {"name": "hot", "data_type": "boolean"}, {"name": "born", "data_type": "date"},
    {"name": "seen", "data_type": "datetime"}, {"name": "at", "data_type": "time"},
    {"name": "tags", "data_type": "multi_enum", "enum_values": ["a", "b"]},
    {"name": "extra", "data_type": "json"}, {"name": "list", "data_type": "array"},
    {"name": "where", "data_type": "geo_point"},
]
FULL = {"title": "Ada, \"the\" first", "score": 42, "rating": 2.5, "price": "10.25",
        "hot": True, "born": "1815-12-10", "seen": "2024-03-01T10:00:00+02:00", "at": "09:30",
        "tags": ["a", "b"], "extra": {"k": [1, None]}, "list": [1, "x"],
        "where": {"lat": 1.5, "lng": -2}}


@pytest.fixture
def db(tenant_db):
    make_type(tenant_db, "lead", PROPS)
    return tenant_db


def start(db, fmt="json", **kw):
    return call(db, exports.start_export, type_ref="lead", format=fmt, **kw)


def job_of(db, fmt="json", **kw):
    return call(db, exports.begin_export, export_id=start(db, fmt, **kw)["export_id"])


def make_file(db, job, filters_=None, page_rows=exports.PAGE_ROWS) -> bytes:
    """What the export task does, in-process."""
    f = io.BytesIO()
    out = exports.ExportFile(job["format"], job["columns"], f, CTX)
    after = ""
    while True:
        page = call(db, exports.export_page, type_id=job["object_type_id"], filters_=filters_,
                    after=after, columns=job["columns"], typed=job["format"] == "parquet",
                    limit=page_rows)
        out.write(page)
        if page.num_rows < page_rows:
            break
        after = page.column("id")[-1].as_py()
    out.close()
    return f.getvalue()


# -- starting and states ---------------------------------------------------------------------
def test_start_records_a_pending_export_and_audits_it(db):
    make_obj(db, "lead", title="a")
    make_obj(db, "lead", title="b")
    e = start(db, "csv", filters_=[{"property": "title", "operator": "eq", "value": "a"}])
    assert e["status"] == "pending" and e["format"] == "csv" and e["record_count"] == 1
    assert e["download_path"] == f"/v1/data/export/{e['export_id']}"
    assert e["export_id"].startswith("exp_") and e["finished_at"] is None
    rows = sql(db, "SELECT resource_type, resource_id, details FROM audit_logs "
                   "WHERE action = 'data.export'")
    assert [(t, i, json.loads(d)) for t, i, d in rows] == [
        ("export", e["export_id"], {"format": "csv", "object_type_id": e["object_type_id"],
                                    "record_count": 1})]


@pytest.mark.parametrize("kw,code,field", [
    ({"type_ref": "ghost"}, Code.NOT_FOUND, None),
    ({"format": "xlsx"}, Code.VALIDATION_ERROR, "format"),
    ({"filters_": [{"property": "nope", "operator": "eq", "value": 1}]}, Code.VALIDATION_ERROR,
     "filters[0].property"),
    ({"filters_": [{"property": "score", "operator": "gt", "value": "many"}]},
     Code.VALIDATION_ERROR, "filters[0].value"),
])
def test_start_refuses_bad_input(db, kw, code, field):
    e = error(db, exports.start_export, **{"type_ref": "lead", "format": "json", **kw})
    assert e.code is code and e.details.get("field") == field
    assert count(db, "exports") == 0


def test_more_objects_than_the_limit_is_a_400_suggesting_filters(db, monkeypatch):
    monkeypatch.setattr(exports, "MAX_OBJECTS", 2)
    for i in range(3):
        make_obj(db, "lead", score=i)
    e = error(db, exports.start_export, type_ref="lead", format="json")
    assert e.details["field"] == "filters" and "at most 2" in e.message
    assert "filters" in e.message and "3 objects match" in e.message
    assert start(db, filters_=[{"property": "score", "operator": "lt", "value": 2}])


def test_states_pending_running_done_and_failed(db):
    e = start(db, "parquet")
    job = call(db, exports.begin_export, export_id=e["export_id"])
    assert job["blob_key"] == f"tn_test/exports/{e['export_id']}.parquet"
    assert [c["name"] for c in job["columns"]] == [p["name"] for p in PROPS]
    got = call(db, exports.get_export, export_id=e["export_id"])
    assert got["status"] == "running" and got["blob_key"] is None
    done = call(db, exports.finish_export, export_id=e["export_id"], row_count=0, size_bytes=9)
    assert (done["status"], done["record_count"], done["size_bytes"]) == ("done", 0, 9)
    assert done["finished_at"].endswith("Z")
    got = call(db, exports.get_export, export_id=e["export_id"])
    assert got["blob_key"] == job["blob_key"] and got["status"] == "done"
    other = start(db)["export_id"]
    failed = call(db, exports.finish_export, export_id=other, error="x" * 1000)
    assert failed["status"] == "failed" and len(failed["error"]) == exports.MAX_ERROR


def test_unknown_exports_are_404(db):
    for fn in (exports.get_export, exports.begin_export, exports.finish_export):
        assert error(db, fn, export_id="exp_nope").code is Code.NOT_FOUND


# -- pages -----------------------------------------------------------------------------------
def test_pages_walk_the_matching_live_objects_by_id(db):
    ids = [make_obj(db, "lead", score=i)["id"] for i in range(7)]
    call(db, objects.delete_object, type_ref="lead", object_id=ids[3])
    job = job_of(db)
    seen, after = [], ""
    while True:
        page = call(db, exports.export_page, type_id=job["object_type_id"], after=after,
                    filters_=[{"property": "score", "operator": "gte", "value": 1}],
                    columns=job["columns"], limit=2)
        seen.append(page.column("id").to_pylist())
        if page.num_rows < 2:
            break
        after = seen[-1][-1]
    assert seen == [[ids[1], ids[2]], [ids[4], ids[5]], [ids[6]]]


def test_typed_pages_hold_typed_columns(db):
    make_obj(db, "lead", **FULL)
    make_obj(db, "lead")
    job = job_of(db, "parquet")
    page = call(db, exports.export_page, type_id=job["object_type_id"], filters_=None,
                after="", columns=job["columns"], typed=True)
    types = {f.name: f.type for f in page.schema}
    assert types["score"] == pa.int64() and types["rating"] == pa.float64()
    assert types["price"] == pa.decimal128(19, 4) and types["hot"] == pa.bool_()
    assert types["born"] == pa.date32() and types["seen"].tz is not None
    assert types["tags"] == pa.list_(pa.string()) and types["at"] == pa.string()
    assert types["where"] == pa.struct([("lat", pa.float64()), ("lng", pa.float64())])
    assert page.column_names[:4] == list(exports.SYSTEM_COLUMNS)


# -- files -----------------------------------------------------------------------------------
def test_json_file_holds_the_objects_as_the_list_shows_them(db):
    for i in range(5):
        make_obj(db, "lead", **{**FULL, "score": i})
    listed = call(db, objects.list_objects, type_ref="lead", order="asc", limit=100)["results"]
    data = json.loads(make_file(db, job_of(db), page_rows=2))
    assert data == listed
    none = [{"property": "score", "operator": "eq", "value": 99}]
    assert json.loads(make_file(db, job_of(db, filters_=none), filters_=none)) == []


def test_csv_file_has_system_columns_then_properties_and_reimports(db):
    a = make_obj(db, "lead", **FULL)
    b = make_obj(db, "lead", title="plain")
    rows = list(csv.reader(io.StringIO(make_file(db, job_of(db, "csv")).decode())))
    assert rows[0] == [*exports.SYSTEM_COLUMNS, *(p["name"] for p in PROPS)]
    assert rows[1][:4] == [a["id"], a["created_at"], a["updated_at"], "1"]
    assert rows[1][4:] == ['Ada, "the" first', "42", "2.5", "10.25", "true", "1815-12-10",
                           "2024-03-01T10:00:00+02:00", "09:30", '["a", "b"]',
                           '{"k": [1, null]}', '[1, "x"]', '{"lat": 1.5, "lng": -2}']
    assert rows[2][:5] == [b["id"], b["created_at"], b["updated_at"], "1", "plain"]
    assert rows[2][5:] == [""] * (len(PROPS) - 1)
    # the property columns read back as an import into a copy of the type
    make_type(db, "copy", PROPS)
    text = io.StringIO()
    csv.writer(text).writerows(r[4:] for r in rows)
    parsed = imports.parse_csv(text.getvalue())
    r = call(db, imports.import_objects, type_ref="copy", format="csv", **parsed)
    assert r["imported"] == 2 and r["errors"] == []
    copies = call(db, objects.list_objects, type_ref="copy", order="asc")["results"]
    assert [c["properties"] for c in copies] == [a["properties"], b["properties"]]


def test_parquet_file_is_typed(db):
    a = make_obj(db, "lead", **FULL)
    make_obj(db, "lead", title="plain")
    table = pq.read_table(io.BytesIO(make_file(db, job_of(db, "parquet"), page_rows=1)))
    assert table.num_rows == 2
    first = table.to_pylist()[0]
    assert first["id"] == a["id"] and first["version"] == 1
    assert first["created_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" \
        == a["created_at"]
    assert first["score"] == 42 and first["price"] == Decimal("10.25") and first["hot"] is True
    assert first["born"] == date(1815, 12, 10) and first["tags"] == ["a", "b"]
    assert first["seen"] == datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    assert json.loads(first["extra"]) == {"k": [1, None]} and first["at"] == "09:30"
    assert first["where"] == {"lat": 1.5, "lng": -2.0}
    assert table.to_pylist()[1]["score"] is None


def test_an_empty_parquet_file_keeps_its_columns(db):
    table = pq.read_table(io.BytesIO(make_file(db, job_of(db, "parquet"))))
    assert table.num_rows == 0
    assert table.column_names == [*exports.SYSTEM_COLUMNS, *(p["name"] for p in PROPS)]
