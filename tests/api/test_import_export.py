"""Import and export over HTTP: CSV and JSON files (multipart) and inline JSON, rejected rows
(`errors`) by line, whole-input 400s, the import body limit; exports made by a Ray task in json,
csv and parquet, read back and compared with the objects; polling, 404s and scopes (the rules in
detail are tested in tests/storage/test_imports.py and test_exports.py)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC

import pyarrow.parquet as pq
import pytest

from tests.api.builders import make_objects, make_type, poll
from tests.api.conftest import create_tenant, err, ok
from tests.api.scenarios import BOGUS, NO_AUTH, Scenario, run

EXPORT_WAIT_S = 90.0  # bound on polling an export (a Ray worker may have to start first)
PROPS = [{"name": "title", "data_type": "string", "is_required": True},
         ("score", "integer"), ("rating", "number"), ("price", "currency"), ("hot", "boolean"),
         {"name": "tags", "data_type": "multi_enum", "enum_values": ["a", "b"]},
         ("where", "geo_point"), {"name": "code", "data_type": "string", "is_unique": True}]
ROWS = [{"title": "Ada", "score": 1, "rating": 2.5, "price": "10.25", "hot": True,
         "tags": ["a", "b"], "where": {"lat": 1.5, "lng": -2}, "code": "c1"},
        {"title": "Bob, \"B\"", "score": 2, "hot": False},
        {"title": "Cy", "tags": []}]


def lead(tenant) -> dict:
    return make_type(tenant, "lead", PROPS)


def upload(tenant, name: str, content: str | bytes, key: str | None = None, **fields):
    return tenant.call("POST", "/v1/data/import", key=key, files={"file": (name, content)},
                       data={"object_type_id": "lead", **fields})


def listed(tenant) -> list[dict]:
    r = tenant.call("GET", "/v1/objects/lead/list", params={"order": "asc", "limit": 100})
    return ok(r)["results"]


# -- import ----------------------------------------------------------------------------------
def test_import_a_csv_file(tenant):
    lead(tenant)
    text = ("title,score,rating,price,hot,tags,where,code\n"
            'Ada,1,2.5,10.25,yes,"[""a"",""b""]","{""lat"": 1.5, ""lng"": -2}",c1\n'
            '"Bob, ""B""",2,,,0,,,\n'
            "Cy,,,,,[],,\n"
            ",4,,,,,,\n"
            "Di,five,,,,,,\n")
    data = ok(upload(tenant, "leads.csv", text))
    assert data["imported"] == 3 and data["total"] == 5
    assert data["errors"] == [
        {"line": 5, "reason": "property 'title' is required", "field": "title"},
        {"line": 6, "reason": "property 'score' (integer) must be an integer", "field": "score"}]
    assert [o["properties"] for o in listed(tenant)] == ROWS


def test_import_a_json_file_with_the_format_inferred(tenant):
    lead(tenant)
    data = ok(upload(tenant, "leads.json", json.dumps(ROWS)))
    assert (data["imported"], data["errors"], data["total"]) == (3, [], 3)
    # no telling name: JSON is recognised by its content; a named format wins
    ok(upload(tenant, "upload", json.dumps([{"title": "by content"}])))
    ok(upload(tenant, "x.txt", "title\nby field\n", format="csv"))
    r = tenant.call("POST", "/v1/data/import", data={"object_type_id": "lead"},
                    files={"file": ("named.csv", "title\nby name\n", "application/json")})
    assert ok(r)["imported"] == 1  # the name wins over the part's content type
    assert [o["properties"]["title"] for o in listed(tenant)][-3:] == [
        "by content", "by field", "by name"]


def test_inline_json_rows_with_rejections_by_item(tenant):
    lead(tenant)
    r = tenant.call("POST", "/v1/data/import", json={
        "object_type_id": "lead", "format": "json",
        "data": [ROWS[0], {"title": "dup", "code": "c1"}, {"score": 3}, "row", ROWS[2]]})
    data = ok(r)
    assert data["imported"] == 2 and data["total"] == 5
    assert [(x["line"], x["field"]) for x in data["errors"]] == [
        (2, "code"), (3, "title"), (4, None)]
    assert "must be unique" in data["errors"][0]["reason"]


def test_inline_csv_text(tenant):
    lead(tenant)
    r = tenant.call("POST", "/v1/data/import", json={
        "object_type_id": "lead", "data": "title,hot\nA,true\nB,sometimes\n"})
    data = ok(r)
    assert data["imported"] == 1 and data["errors"][0]["line"] == 3
    assert data["errors"][0]["field"] == "hot"


def test_more_than_ten_thousand_rows_is_refused_whole(tenant):
    lead(tenant)
    text = "title\n" + "".join(f"t{i}\n" for i in range(10_001))
    e = err(upload(tenant, "big.csv", text), 400, "VALIDATION_ERROR")
    assert e["field"] == "file" and "at most 10000" in e["message"]
    e = err(tenant.call("POST", "/v1/data/import", json={
        "object_type_id": "lead", "data": [{"title": "x"}] * 10_001}), 400, "VALIDATION_ERROR")
    assert e["field"] == "data" and "10000" in e["message"]
    assert listed(tenant) == []


def test_ten_thousand_rows_over_a_megabyte_import(tenant):
    """The import path takes RAYBASE_MAX_IMPORT_BYTES; other paths keep the 1 MiB limit."""
    lead(tenant)
    text = "title,score\n" + "".join(f"{'x' * 150} {i},{i}\n" for i in range(10_000))
    assert len(text) > 1 << 20
    data = ok(upload(tenant, "big.csv", text))
    assert (data["imported"], data["errors"]) == (10_000, [])
    big = json.dumps({"properties": {"title": "x" * (1 << 20)}})
    r = tenant.call("POST", "/v1/objects/lead", content=big,
                    headers={"Content-Type": "application/json"})
    err(r, 413, "PAYLOAD_TOO_LARGE")


def test_unknown_csv_columns_refuse_the_whole_import(tenant):
    lead(tenant)
    e = err(upload(tenant, "leads.csv", "title,colour,size\nAda,red,1\n"), 400,
            "VALIDATION_ERROR")
    assert e["unknown_columns"] == ["colour", "size"] and e["field"] == "colour"
    assert listed(tenant) == []


@pytest.mark.parametrize("name,content,field,needle", [
    ("bad.csv", 'title\n"open\n', "file", "not valid CSV"),
    ("bad.json", "[{", "file", "not valid JSON"),
    ("obj.json", '{"title": "x"}', "file", "JSON array"),
    ("latin.csv", "title\ncafé\n".encode("latin-1"), "file", "UTF-8"),
    ("empty.csv", "", "file", "no CSV header"),
])
def test_malformed_files_are_400(tenant, name, content, field, needle):
    lead(tenant)
    e = err(upload(tenant, name, content), 400, "VALIDATION_ERROR")
    assert e["field"] == field and needle in e["message"]


def test_form_fields_are_checked(tenant):
    lead(tenant)
    r = tenant.call("POST", "/v1/data/import", data={"object_type_id": "lead"},
                    files={"other": ("a.csv", "title\nx\n")})
    assert err(r, 400, "VALIDATION_ERROR")["field"] == "other"
    r = tenant.call("POST", "/v1/data/import", files={"file": ("a.csv", "title\nx\n")},
                    data={"format": "csv"})
    assert err(r, 400, "VALIDATION_ERROR")["field"] == "object_type_id"
    e = err(upload(tenant, "a.csv", "title\nx\n", format="xml"), 400, "VALIDATION_ERROR")
    assert e["field"] == "format"
    r = tenant.call("POST", "/v1/data/import", data={"object_type_id": "lead", "x": "1"},
                    files={"file": ("a.csv", "t")})
    assert err(r, 400, "VALIDATION_ERROR")["field"] == "x"
    r = tenant.call("POST", "/v1/data/import", data={"object_type_id": "lead"},
                    files={"unused": ("b.csv", "t")})
    assert err(r, 400, "VALIDATION_ERROR")["field"] == "unused"
    e = err(upload(tenant, "a.csv", "title\nx\n", object_type_id="ghost"), 404, "NOT_FOUND")
    assert "ghost" in e["message"]


# -- export ----------------------------------------------------------------------------------
def start_export(tenant, fmt: str, **body) -> dict:
    r = tenant.call("POST", "/v1/data/export", json={"object_type_id": "lead", "format": fmt,
                                                     **body})
    data = ok(r, 202)
    assert data["status"] in ("pending", "running", "done")  # the task may be quick
    return data


def finished(tenant, export_id: str):
    r = poll(lambda: tenant.call("GET", f"/v1/data/export/{export_id}"),
             lambda r: r.status_code != 202, timeout=EXPORT_WAIT_S, interval=0.2)
    assert r.status_code == 200, r.text
    return r


def exported(tenant, fmt: str, **body):
    e = start_export(tenant, fmt, **body)
    assert e["download_path"] == f"/v1/data/export/{e['export_id']}"
    r = finished(tenant, e["export_id"])
    ext = {"json": "json", "csv": "csv", "parquet": "parquet"}[fmt]
    assert r.headers["content-disposition"] == \
        f'attachment; filename="{e["export_id"]}.{ext}"'
    assert int(r.headers["content-length"]) == len(r.content)
    assert r.headers["x-request-id"]
    return r


def test_export_json_is_the_list_of_objects(tenant):
    lead(tenant)
    make_objects(tenant, "lead", ROWS)
    r = exported(tenant, "json")
    assert r.headers["content-type"] == "application/json"
    assert r.json() == listed(tenant)


def test_export_csv_has_system_columns_and_one_column_per_property(tenant):
    lead(tenant)
    make_objects(tenant, "lead", ROWS)
    r = exported(tenant, "csv")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    objs = listed(tenant)
    assert list(rows[0]) == ["id", "created_at", "updated_at", "version",
                             *(p["name"] if isinstance(p, dict) else p[0] for p in PROPS)]
    assert [(x["id"], x["created_at"], x["updated_at"], x["version"]) for x in rows] == [
        (o["id"], o["created_at"], o["updated_at"], str(o["version"])) for o in objs]
    assert rows[0]["title"] == "Ada" and rows[0]["hot"] == "true"
    assert json.loads(rows[0]["where"]) == {"lat": 1.5, "lng": -2}
    assert rows[1]["title"] == 'Bob, "B"' and rows[1]["price"] == ""
    assert rows[2]["tags"] == "[]"


def test_export_parquet_is_typed(tenant):
    lead(tenant)
    make_objects(tenant, "lead", ROWS)
    r = exported(tenant, "parquet")
    assert r.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(r.content))
    objs = listed(tenant)
    rows = table.to_pylist()
    assert [x["id"] for x in rows] == [o["id"] for o in objs]
    shown = rows[0]["created_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert shown == objs[0]["created_at"]
    assert [x["score"] for x in rows] == [1, 2, None]
    assert [x["hot"] for x in rows] == [True, False, None]
    assert rows[0]["tags"] == ["a", "b"] and rows[0]["where"] == {"lat": 1.5, "lng": -2.0}
    assert str(rows[0]["price"]) == "10.2500" and rows[0]["rating"] == 2.5


def test_export_with_filters_and_an_empty_export(tenant):
    lead(tenant)
    make_objects(tenant, "lead", ROWS)
    e = start_export(tenant, "json", filters=[{"property": "score", "operator": "gte",
                                               "value": 2}])
    assert e["record_count"] == 1
    assert [o["properties"]["title"] for o in finished(tenant, e["export_id"]).json()] == [
        'Bob, "B"']
    r = exported(tenant, "csv", filters=[{"property": "title", "operator": "eq", "value": "z"}])
    assert r.text.splitlines() == ["id,created_at,updated_at,version,title,score,rating,price,"
                                   "hot,tags,where,code"]


def test_export_status_while_it_runs_then_done(tenant):
    lead(tenant)
    e = start_export(tenant, "json")
    r = tenant.call("GET", f"/v1/data/export/{e['export_id']}")
    if r.status_code == 202:  # still being made: the envelope says so
        data = ok(r, 202)
        assert data["export_id"] == e["export_id"] and data["status"] in ("pending", "running")
    assert finished(tenant, e["export_id"]).json() == []


def test_another_tenants_export_is_404(tenant, client):
    lead(tenant)
    e = start_export(tenant, "json")
    other = create_tenant(client, "Other")
    err(other.call("GET", f"/v1/data/export/{e['export_id']}"), 404, "NOT_FOUND")
    err(tenant.call("GET", "/v1/data/export/exp_0000"), 404, "NOT_FOUND")


# -- auth and bad input ----------------------------------------------------------------------
def _world(tenant) -> dict:
    lead(tenant)
    make_objects(tenant, "lead", ROWS[:1])
    export = start_export(tenant, "json")
    return {"export": export["export_id"]}


IMPORT = {"object_type_id": "lead", "data": [{"title": "x"}]}
EXPORT = {"object_type_id": "lead", "format": "csv"}
SCENARIOS = [
    Scenario("import write key", "POST", "/v1/data/import", 200, auth=("write",), json=IMPORT,
             check=lambda d, w: d["imported"] == 1),
    Scenario("import read key", "POST", "/v1/data/import", 403, "INSUFFICIENT_SCOPE",
             auth=("read",), json=IMPORT),
    Scenario("import no token", "POST", "/v1/data/import", 401, "UNAUTHORIZED", auth=NO_AUTH,
             json=IMPORT),
    Scenario("import unknown type", "POST", "/v1/data/import", 404, "NOT_FOUND",
             json={**IMPORT, "object_type_id": "ghost"}),
    Scenario("import no type", "POST", "/v1/data/import", 400, "VALIDATION_ERROR",
             json={"data": []}, field="object_type_id"),
    Scenario("import bad format", "POST", "/v1/data/import", 400, "VALIDATION_ERROR",
             json={**IMPORT, "format": "xml"}, field="format"),
    Scenario("import unknown field", "POST", "/v1/data/import", 400, "VALIDATION_ERROR",
             json={**IMPORT, "mode": "upsert"}, field="mode"),
    Scenario("import csv format with a list", "POST", "/v1/data/import", 400,
             "VALIDATION_ERROR", json={**IMPORT, "format": "csv"}, field="data"),
    Scenario("import json format with text", "POST", "/v1/data/import", 400,
             "VALIDATION_ERROR", json={**IMPORT, "format": "json", "data": "title\nx"},
             field="data"),
    Scenario("import malformed json", "POST", "/v1/data/import", 400, "VALIDATION_ERROR",
             content=b'{"object_type_id": ', field="body"),
    Scenario("export read key", "POST", "/v1/data/export", 202, auth=("read",), json=EXPORT,
             check=lambda d, w: d["status"] in ("pending", "running", "done")),
    Scenario("export write key", "POST", "/v1/data/export", 403, "INSUFFICIENT_SCOPE",
             auth=("write",), json=EXPORT),
    Scenario("export no token", "POST", "/v1/data/export", 401, "UNAUTHORIZED", auth=NO_AUTH,
             json=EXPORT),
    Scenario("export unknown type", "POST", "/v1/data/export", 404, "NOT_FOUND",
             json={**EXPORT, "object_type_id": "ghost"}),
    Scenario("export bad format", "POST", "/v1/data/export", 400, "VALIDATION_ERROR",
             json={**EXPORT, "format": "xlsx"}, field="format"),
    Scenario("export bad filter", "POST", "/v1/data/export", 400, "VALIDATION_ERROR",
             json={**EXPORT, "filters": [{"property": "score", "operator": "gt", "value": "x"}]},
             field="filters[0].value"),
    Scenario("download write key", "GET", "/v1/data/export/{export}", 403, "INSUFFICIENT_SCOPE",
             auth=("write",)),
    Scenario("download no token", "GET", "/v1/data/export/{export}", 401, "UNAUTHORIZED",
             auth=NO_AUTH),
    Scenario("download unknown token", "GET", "/v1/data/export/{export}", 401, "UNAUTHORIZED",
             auth=BOGUS),
    Scenario("download unknown id", "GET", "/v1/data/export/exp_ghost", 404, "NOT_FOUND"),
]


@pytest.mark.parametrize("sc", SCENARIOS, ids=str)
def test_import_export_matrix(tenant, sc):
    run(tenant, sc, _world(tenant))


def test_a_read_key_downloads(tenant):
    world = _world(tenant)
    key = tenant.new_key(["read"])
    r = poll(lambda: tenant.call("GET", f"/v1/data/export/{world['export']}", key=key),
             lambda r: r.status_code != 202, timeout=EXPORT_WAIT_S, interval=0.2)
    assert r.status_code == 200 and r.json()[0]["properties"]["title"] == "Ada"


def test_imports_and_exports_are_audited(tenant):
    world = _world(tenant)
    ok(tenant.call("POST", "/v1/data/import", json=IMPORT))
    rows = ok(tenant.call("GET", "/v1/audit-logs", params={"limit": 100}))["logs"]
    actions = {(x["action"], x["resource_id"]) for x in rows}
    assert ("data.export", world["export"]) in actions
    assert any(a == "data.import" for a, _ in actions)
