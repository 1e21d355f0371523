"""Multipart submissions of public forms over HTTP (serve/routes/forms.py): text parts are the
values, the file part of a `file` field becomes a new file of the tenant whose id is the value;
a refused submission leaves no file, no blob and no object; a file part for another field is
400 naming it; the rate limit applies as to JSON submissions."""

from __future__ import annotations

from storage.blobs import blob_store
from tests.api.builders import make_type
from tests.api.conftest import err, ok

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
FIELDS = [{"name": "email", "type": "email", "required": True},
          {"name": "size", "type": "number"},
          {"name": "tags", "type": "multiselect", "options": ["a", "b", "c"]},
          {"name": "agree", "type": "checkbox"},
          {"name": "resume", "type": "file", "required": True}]


def make_form(tenant) -> dict:
    make_type(tenant, "applicant", [
        ("email", "email"), ("size", "integer"), ("resume", "file"), ("agree", "boolean"),
        {"name": "tags", "data_type": "multi_enum", "enum_values": ["a", "b", "c"]}])
    return ok(tenant.call("POST", "/v1/forms", json={
        "name": "Apply", "object_type_id": "applicant", "fields": FIELDS, "status": "active"}),
        201)


def submit(tenant, form: dict, data: list[tuple[str, str]], files: list | None = None):
    """A multipart submit with no Bearer (httpx writes the multipart body)."""
    return tenant.client.post(f"/v1/forms/{form['id']}/submit", params={"tenant_id": tenant.id},
                              data=_fields(data), files=files or [])


def _fields(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out


def file_state(service, tenant) -> tuple[int, int, list[str]]:
    stats = ok(tenant.call("GET", "/v1/files/stats"))
    blobs = blob_store(service["settings"]).list(f"{tenant.id}/files/")
    return stats["file_count"], stats["used_bytes"], blobs


def objects(tenant) -> list[dict]:
    listed = ok(tenant.call("GET", "/v1/objects/applicant/list"))
    return listed["results"] if isinstance(listed, dict) else listed


def test_a_multipart_submission_stores_the_file_as_the_fields_value(tenant):
    form = make_form(tenant)
    done = ok(submit(tenant, form, [("email", "ada@example.com"), ("size", "42"),
                                    ("tags", "a"), ("tags", "c"), ("agree", "on")],
                     files=[("resume", ("cv/ada.pdf", PDF, "application/pdf"))]))
    assert done["submitted"] is True
    got = ok(tenant.call("GET", f"/v1/objects/applicant/{done['object_id']}"))["properties"]
    assert (got["email"], got["size"], got["tags"], got["agree"]) == (
        "ada@example.com", 42, ["a", "c"], True)
    file_id = got["resume"]
    meta = ok(tenant.call("GET", f"/v1/files/{file_id}"))
    assert meta["filename"] == "ada.pdf" and meta["mime_type"] == "application/pdf"
    assert meta["size_bytes"] == len(PDF) and meta["access"] == "private"
    content = tenant.call("GET", f"/v1/files/{file_id}/content")
    assert content.status_code == 200 and content.content == PDF
    subs = ok(tenant.call("GET", f"/v1/forms/{form['id']}/submissions"))
    assert subs["submissions"][0]["data"]["resume"] == file_id
    # a `data` part holding the JSON object of values, beside the file part
    done = ok(submit(tenant, form, [("data", '{"email": "bo@example.com", "tags": ["b"]}')],
                     files=[("resume", ("b.txt", b"plain text", "text/plain"))]))
    got = ok(tenant.call("GET", f"/v1/objects/applicant/{done['object_id']}"))["properties"]
    assert got["tags"] == ["b"] and got["resume"].startswith("file_")


def test_a_refused_multipart_submission_leaves_no_file_and_no_object(service, tenant):
    form = make_form(tenant)
    before = file_state(service, tenant)
    resume = [("resume", ("cv.pdf", PDF, "application/pdf"))]
    cases = [([("email", "not an email")], resume, "email"),
             ([("email", "a@example.com"), ("size", "4.5x")], resume, "size"),
             ([("email", "a@example.com"), ("tags", "z")], resume, "tags"),
             ([("email", "a@example.com")], [], "resume"),  # url-encoded: no file
             ([("email", "a@example.com")], [("resume", ("", b"", "application/octet-stream"))],
              "resume"),  # a browser's file input with no file chosen: required
             ([("email", "a@example.com"), ("nope", "1")], resume, "nope"),
             ([("email", "a@example.com"), ("size", "1"), ("size", "2")], resume, "size"),
             ([("email", "a@example.com")], [*resume, ("resume", ("2.pdf", PDF, "a/b"))],
              "resume"),
             ([("email", "a@example.com")], [("resume", ("empty.pdf", b"", "a/b"))], "resume")]
    for data, files, field in cases:
        bad = err(submit(tenant, form, data, files), 400, "VALIDATION_ERROR")
        assert bad["field"] == field, (data, bad)
    assert file_state(service, tenant) == before
    assert objects(tenant) == []
    assert ok(tenant.call("GET", f"/v1/forms/{form['id']}/submissions"))["total"] == 0


def test_a_file_part_for_another_field_is_400_naming_it(service, tenant):
    form = make_form(tenant)
    before = file_state(service, tenant)
    bad = err(submit(tenant, form, [("email", "a@example.com")], files=[
        ("resume", ("cv.pdf", PDF, "application/pdf")),
        ("size", ("n.txt", b"12", "text/plain"))]), 400, "VALIDATION_ERROR")
    assert bad["field"] == "size" and "not a file field" in bad["message"]
    assert file_state(service, tenant) == before and objects(tenant) == []


def test_multipart_submissions_are_rate_limited(service, tenant):
    form = make_form(tenant)
    codes = [submit(tenant, form, [("email", "bad")],
                    files=[("resume", ("cv.pdf", PDF, "application/pdf"))]).status_code
             for _ in range(12)]
    assert codes[0] == 400 and 429 in codes
    assert file_state(service, tenant)[0] == 0  # neither refusal stored a file
