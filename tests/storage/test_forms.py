"""Forms: definitions checked against the type, submissions create objects, safe delete."""

from __future__ import annotations

import csv
import io
import json

import pytest

from storage import forms, objects
from tests.storage.conftest import CTX, call, count, error, make_type

PUBLIC = {**CTX, "actor_id": "public", "ip": "203.0.113.5"}
FIELDS = [{"name": "email", "label": "Email", "type": "email", "required": True},
          {"name": "age", "type": "number"},
          {"name": "plan", "type": "select"}]


@pytest.fixture
def typed(tenant_db):
    make_type(tenant_db, "lead", props=[
        {"name": "email", "data_type": "email"}, {"name": "age", "data_type": "integer"},
        {"name": "plan", "data_type": "enum", "enum_values": ["free", "pro"]}])
    return tenant_db


def make_form(db, **over):
    body = {"name": "Signup", "object_type_id": "lead", "fields": FIELDS,
            "settings": {"success_message": "Thanks"}, "status": "active", **over}
    return call(db, forms.create_form, body=body)


def submit(db, form_id, **data):
    return call(db, forms.submit_form, PUBLIC, form_id=form_id, data=data, user_agent="ua/1")


def test_create_fills_defaults_and_lists(typed):
    form = make_form(typed)
    assert form["fields"][2]["options"] == ["free", "pro"]
    assert form["fields"][1]["label"] == "age" and form["settings"]["require_captcha"] is False
    assert [f["id"] for f in call(typed, forms.list_forms)] == [form["id"]]


@pytest.mark.parametrize("over, field", [
    ({"fields": [{"name": "nope"}]}, "fields[0].name"),
    ({"fields": [{"name": "age", "type": "checkbox"}]}, "fields[0].type"),
    ({"fields": [{"name": "age", "type": "wat"}]}, "fields[0].type"),
    ({"fields": [{"name": "age", "default": "x"}]}, "fields[0].default"),
    ({"settings": {"redirect_url": "javascript:alert(1)"}}, "settings.redirect_url"),
    ({"settings": {"notify_emails": ["no"]}}, "settings.notify_emails"),
    ({"settings": {"close_at": "soon"}}, "settings.close_at"),
    ({"settings": {"other": 1}}, "settings.other"),
    ({"status": "live"}, "status"),
    ({"name": " "}, "name"),
])
def test_bad_definitions_name_the_field(typed, over, field):
    assert error(typed, forms.create_form, body={"name": "F", "object_type_id": "lead",
                                                 "fields": [], **over}).details["field"] == field
    assert count(typed, "forms") == 0


def test_unknown_type_is_404(typed):
    assert error(typed, forms.create_form, body={"name": "F", "object_type_id": "ghost",
                                                 "fields": []}).status == 404


def test_submit_creates_object_and_records_submission(typed):
    form = make_form(typed)
    done = submit(typed, form["id"], email="a@example.com", age=30, plan="pro")
    assert done["submitted"] is True
    obj = call(typed, objects.get_object, type_ref="lead", object_id=done["object_id"])
    assert obj["properties"] == {"email": "a@example.com", "age": 30, "plan": "pro"}
    assert obj["created_by"] == f"form:{form['id']}"
    page = call(typed, forms.list_form_submissions, form_id=form["id"])
    assert page["total"] == 1 and page["submissions"][0]["ip"] == "203.0.113.5"
    assert count(typed, "audit_logs", "action = 'form.submit'") == 1


@pytest.mark.parametrize("data, field", [
    ({"age": 3}, "email"), ({"email": "bad"}, "email"), ({"email": "a@b.co", "age": "x"}, "age"),
    ({"email": "a@b.co", "plan": "gold"}, "plan"), ({"email": "a@b.co", "x": 1}, "x")])
def test_rejected_submission_stores_nothing(typed, data, field):
    form = make_form(typed)
    err = error(typed, forms.submit_form, PUBLIC, form_id=form["id"], data=data)
    assert err.status == 400 and err.details["field"] == field
    assert count(typed, "form_submissions") == 0 and count(typed, "objects") == 0


def test_only_active_open_forms_accept(typed):
    draft = make_form(typed, status="draft")
    assert error(typed, forms.submit_form, PUBLIC, form_id=draft["id"],
                 data={"email": "a@b.co"}).status == 409
    capped = make_form(typed, settings={"submission_limit": 1})
    submit(typed, capped["id"], email="a@b.co")
    assert error(typed, forms.submit_form, PUBLIC, form_id=capped["id"],
                 data={"email": "b@b.co"}).status == 409
    past = make_form(typed, settings={"close_at": "2000-01-01T00:00:00Z"})
    assert error(typed, forms.submit_form, PUBLIC, form_id=past["id"],
                 data={"email": "a@b.co"}).status == 409


def test_public_definition_hides_private_settings_and_counts_views(typed):
    form = make_form(typed, settings={"notify_emails": ["o@example.com"],
                                      "require_captcha": True})
    public = call(typed, forms.view_form, PUBLIC, form_id=form["id"])
    assert "notify_emails" not in public["settings"] and public["require_captcha"] is True
    call(typed, forms.view_form, PUBLIC, form_id=form["id"])
    submit(typed, form["id"], email="a@b.co")
    stats = call(typed, forms.get_form_analytics, form_id=form["id"])
    assert (stats["views"], stats["submissions"], stats["conversion_rate"]) == (2, 1, 0.5)
    assert stats["by_day"][-1]["views"] == 2
    draft = make_form(typed, status="draft")
    assert error(typed, forms.view_form, PUBLIC, form_id=draft["id"]).status == 404


def test_export_csv_and_json(typed):
    form = make_form(typed)
    submit(typed, form["id"], email="a@b.co", age=5)
    text = call(typed, forms.export_form_submissions, form_id=form["id"], format="csv")
    rows = list(csv.DictReader(io.StringIO(text["content"])))
    assert rows[0]["email"] == "a@b.co" and rows[0]["age"] == "5" and rows[0]["plan"] == ""
    data = call(typed, forms.export_form_submissions, form_id=form["id"], format="json")
    assert json.loads(data["content"])[0]["data"] == {"email": "a@b.co", "age": 5}
    assert error(typed, forms.export_form_submissions, form_id=form["id"],
                 format="xml").details["field"] == "format"


def test_update_duplicate_and_safe_delete(typed):
    form = make_form(typed)
    changed = call(typed, forms.update_form, form_id=form["id"],
                   changes={"name": "New", "settings": {"require_captcha": True}})
    assert changed["name"] == "New" and changed["settings"]["success_message"] == "Thanks"
    copy = call(typed, forms.duplicate_form, form_id=form["id"])
    assert copy["name"] == "New (copy)" and copy["status"] == "draft"
    done = submit(typed, form["id"], email="a@b.co")
    refused = error(typed, forms.delete_form, form_id=form["id"])
    assert refused.status == 409
    token = refused.details["confirm_token"]
    assert call(typed, forms.delete_form, form_id=form["id"], force=True,
                confirm_token=token) == {"id": form["id"], "deleted": True}
    assert count(typed, "form_submissions") == 0
    assert call(typed, objects.get_object, type_ref="lead", object_id=done["object_id"])
    assert error(typed, forms.delete_form, form_id=form["id"]).status == 404


def test_a_forced_type_delete_takes_its_forms_and_their_records(typed):
    from storage import object_types

    form = make_form(typed)
    submit(typed, form["id"], email="a@example.com")
    call(typed, forms.view_form, PUBLIC, form_id=form["id"])
    err = error(typed, object_types.delete_object_type, type_ref="lead")
    assert ("forms", 1) in [(d["type"], d["count"]) for d in err.details["dependencies"]]
    call(typed, object_types.delete_object_type, type_ref="lead", force=True,
         confirm_token=err.details["confirm_token"])
    for table in ("forms", "form_submissions", "form_views"):
        assert count(typed, table) == 0, table


@pytest.fixture
def with_file_field(typed):
    from storage import properties

    call(typed, properties.create_property, type_ref="lead",
         body={"name": "cv", "data_type": "file"})
    call(typed, properties.create_property, type_ref="lead",
         body={"name": "tags", "data_type": "multi_enum", "enum_values": ["a", "b"]})
    call(typed, properties.create_property, type_ref="lead",
         body={"name": "ok", "data_type": "boolean"})
    return make_form(typed, fields=[*FIELDS, {"name": "cv", "type": "file"},
                                    {"name": "tags", "type": "multiselect"},
                                    {"name": "ok", "type": "checkbox"}])


def _upload(size: int = 5) -> dict:
    from storage.ids import new_id

    file_id = new_id("file")
    blob = {"key": f"tn_test/files/{file_id}/blob_1", "size_bytes": size, "sha256": "0" * 64,
            "mime_type": "text/plain"}
    return {"field": "cv", "file_id": file_id, "blob": blob,
            "fields": {"filename": "cv.txt", "meta": {"field": "cv"}}}


def test_form_parts_parse_text_by_type_and_check_file_parts(typed, with_file_field):
    form_id = with_file_field["id"]
    got = call(typed, forms.form_parts, form_id=form_id, file_fields=["cv"], texts={
        "email": ["a@b.co"], "age": ["41"], "tags": ["a", "b", ""], "ok": ["on"],
        "plan": [""]})
    assert got == {"email": "a@b.co", "age": 41, "tags": ["a", "b"], "ok": True, "plan": None}
    assert call(typed, forms.form_parts, form_id=form_id, file_fields=[],
                texts={"ok": ["false"]}) == {"ok": False}
    for texts, file_fields, field in [({"age": ["x"]}, [], "age"), ({"ok": ["maybe"]}, [], "ok"),
                                      ({"age": ["1", "2"]}, [], "age"), ({"zz": ["1"]}, [], "zz"),
                                      ({}, ["age"], "age"), ({}, ["cv", "cv"], "cv"),
                                      ({"cv": ["file_x"]}, ["cv"], "cv"), ({}, ["zz"], "zz")]:
        e = error(typed, forms.form_parts, form_id=form_id, texts=texts,
                  file_fields=file_fields)
        assert e.code == "VALIDATION_ERROR" and e.details["field"] == field, (texts, e.message)


def test_uploads_are_recorded_with_the_submission_or_not_at_all(typed, with_file_field):
    form_id = with_file_field["id"]
    done = call(typed, forms.submit_form, PUBLIC, form_id=form_id, data={"email": "a@b.co"},
                uploads=[first := _upload()], quota=100)
    obj = call(typed, objects.get_object, type_ref="lead", object_id=done["object_id"])
    assert obj["properties"]["cv"] == first["file_id"]
    assert count(typed, "files") == 1
    # refused after the file was recorded (a bad value), over the quota, or a closed form:
    # the whole transaction goes, the file row with it
    e = error(typed, forms.submit_form, PUBLIC, form_id=form_id, data={"email": "bad"},
              uploads=[_upload()], quota=100)
    assert e.details["field"] == "email"
    e = error(typed, forms.submit_form, PUBLIC, form_id=form_id, data={"email": "a@b.co"},
              uploads=[_upload(96)], quota=100)
    assert e.code == "QUOTA_EXCEEDED" and e.status == 413
    e = error(typed, forms.submit_form, PUBLIC, form_id=form_id, data={"email": "a@b.co",
                                                                      "cv": first["file_id"]},
              uploads=[_upload()], quota=100)
    assert e.details["field"] == "cv"
    assert count(typed, "files") == 1 and count(typed, "form_submissions") == 1
