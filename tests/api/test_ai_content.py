"""AI on content over HTTP with the real models: moderation, extractive summaries, auto-tags
and image facts (images made with Pillow, uploaded through the files API), each bound, and
tenant isolation."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from tests.api.builders import make_object, make_type
from tests.api.conftest import create_tenant, err, ok
from tests.api.scenarios import BOGUS, NO_AUTH, Scenario, run

MOD, SUM, TAG, DESC = "/v1/ai/moderate", "/v1/ai/summarise", "/v1/ai/auto-tag", "/v1/ai/describe"
CATEGORIES = {"toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate", "profanity"}
ARTICLE = (
    "The city council approved a new budget for public libraries on Tuesday. "
    "Funding for libraries will rise by twelve percent next year. "
    "The mayor said reading programmes for children were the priority. "
    "Several members complained about the late delivery of the report. "
    "Weather on Tuesday was sunny and warm. "
    "The extra library money will pay for longer opening hours and new books. "
    "A vote on road repairs was postponed until March.")


def sentences_of(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]


def world(tenant) -> dict:
    make_type(tenant, "note", [
        ("title", "string"), ("body", "text"), ("n", "integer"),
        {"name": "topics", "data_type": "multi_enum",
         "enum_values": ["cooking", "finance", "travel", "sports"]},
        ("labels", "array")])
    note = make_object(tenant, "note", title="Library budget", body=ARTICLE)["id"]
    empty = make_object(tenant, "note", n=3)["id"]
    return {"note": note, "empty": empty}


def image(fmt: str = "PNG", size=(40, 20), color=(220, 30, 30), mode="RGB", **save) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, fmt, **save)
    return buf.getvalue()


def upload(tenant, content: bytes, name: str = "pic.png") -> str:
    r = tenant.call("POST", "/v1/files/upload", files={"file": (name, content)})
    return ok(r, 201)["id"] if r.status_code == 201 else ok(r)["id"]


def describe(tenant, file_id: str) -> dict:
    return ok(tenant.call("POST", DESC, json={"file_id": file_id}))


TABLE = [
    Scenario("moderate no token", "POST", MOD, 401, "UNAUTHORIZED", auth=NO_AUTH,
             json={"text": "hi"}),
    Scenario("moderate bogus token", "POST", MOD, 401, "UNAUTHORIZED", auth=BOGUS,
             json={"text": "hi"}),
    Scenario("moderate read key", "POST", MOD, 403, "INSUFFICIENT_SCOPE", auth=("read",),
             json={"text": "hi"}),
    Scenario("moderate ai key", "POST", MOD, 200, auth=("ai",), json={"text": "hello there"},
             check=lambda d, w: {r["category"] for r in d["results"]} == CATEGORIES),
    Scenario("moderate no text", "POST", MOD, 400, "VALIDATION_ERROR", json={}, field="text"),
    Scenario("moderate blank", "POST", MOD, 400, "VALIDATION_ERROR", json={"text": " \n"},
             field="text"),
    Scenario("moderate a number", "POST", MOD, 400, "VALIDATION_ERROR", json={"text": 5},
             field="text"),
    Scenario("moderate 20,001 chars", "POST", MOD, 400, "VALIDATION_ERROR",
             json={"text": "a" * 20_001}, field="text"),
    Scenario("moderate 20,000 chars", "POST", MOD, 200, json={"text": "fine words " * 1818},
             check=lambda d, w: d["flagged"] is False),
    Scenario("moderate unknown field", "POST", MOD, 400, "VALIDATION_ERROR",
             json={"text": "x", "txt": "y"}, field="txt"),
    Scenario("summarise max_length 19", "POST", SUM, 400, "VALIDATION_ERROR",
             json=lambda w: {"object_type_id": "note", "object_id": w["note"], "max_length": 19},
             field="max_length"),
    Scenario("summarise max_length 5001", "POST", SUM, 400, "VALIDATION_ERROR",
             json=lambda w: {"object_type_id": "note", "object_id": w["note"],
                             "max_length": 5001}, field="max_length"),
    Scenario("summarise max_length text", "POST", SUM, 400, "VALIDATION_ERROR",
             json=lambda w: {"object_type_id": "note", "object_id": w["note"],
                             "max_length": "100"}, field="max_length"),
    Scenario("summarise no object", "POST", SUM, 400, "VALIDATION_ERROR",
             json={"object_type_id": "note"}, field="object_id"),
    Scenario("summarise unknown type", "POST", SUM, 404, "NOT_FOUND",
             json=lambda w: {"object_type_id": "nope", "object_id": w["note"]}),
    Scenario("summarise unknown object", "POST", SUM, 404, "NOT_FOUND",
             json={"object_type_id": "note", "object_id": "obj_nope"}),
    Scenario("summarise no text", "POST", SUM, 400, "VALIDATION_ERROR",
             json=lambda w: {"object_type_id": "note", "object_id": w["empty"]},
             field="object_id"),
    Scenario("summarise write key", "POST", SUM, 403, "INSUFFICIENT_SCOPE", auth=("write",),
             json=lambda w: {"object_type_id": "note", "object_id": w["note"]}),
    Scenario("auto-tag unknown object", "POST", TAG, 404, "NOT_FOUND",
             json={"object_type_id": "note", "object_id": "obj_nope"}),
    Scenario("auto-tag unknown type", "POST", TAG, 404, "NOT_FOUND",
             json=lambda w: {"object_type_id": "nope", "object_id": w["note"]}),
    Scenario("auto-tag no text", "POST", TAG, 400, "VALIDATION_ERROR",
             json=lambda w: {"object_type_id": "note", "object_id": w["empty"]},
             field="object_id"),
    Scenario("auto-tag no type", "POST", TAG, 400, "VALIDATION_ERROR",
             json=lambda w: {"object_id": w["note"]}, field="object_type_id"),
    Scenario("describe unknown file", "POST", DESC, 404, "NOT_FOUND",
             json={"file_id": "file_nope"}),
    Scenario("describe unknown model", "POST", DESC, 400, "VALIDATION_ERROR",
             json={"file_id": "file_nope", "model": "@cf/llava-hf/llava-1.5-7b-hf"},
             field="model"),
    Scenario("describe no file", "POST", DESC, 400, "VALIDATION_ERROR", json={},
             field="file_id"),
    Scenario("describe files key", "POST", DESC, 403, "INSUFFICIENT_SCOPE", auth=("files",),
             json={"file_id": "file_nope"}),
]


@pytest.mark.parametrize("sc", TABLE, ids=str)
def test_matrix(tenant, sc):
    run(tenant, sc, world(tenant))


# -- moderation -------------------------------------------------------------------------------
def test_abuse_scores_clearly_above_benign_text(tenant):
    def scores(text: str) -> tuple[dict, dict]:
        d = ok(tenant.call("POST", MOD, json={"text": text}))
        assert d["model"] == "toxic-comment-classifier"
        return d, {r["category"]: r["score"] for r in d["results"]}

    abuse, bad = scores("You are a worthless idiot and I will hurt you, you piece of shit")
    benign, good = scores("You're killing it in the market this quarter, congratulations!")
    assert abuse["flagged"] and not benign["flagged"]
    assert bad["toxic"] > 0.9 and good["toxic"] < 0.5 and bad["toxic"] - good["toxic"] > 0.4
    assert bad["insult"] > good["insult"] and bad["profanity"] > 0.9 > good["profanity"]
    assert all(r["flagged"] == (r["score"] >= 0.5) for r in abuse["results"] + benign["results"])


def test_abuse_at_the_start_of_a_long_text_is_still_found(tenant):
    text = "Shut up, you stupid moron. " + "The meeting notes follow as agreed. " * 400
    d = ok(tenant.call("POST", MOD, json={"text": text}))
    assert d["flagged"] and {r["category"] for r in d["results"] if r["flagged"]} >= {"toxic"}


# -- summaries --------------------------------------------------------------------------------
def summarise(tenant, object_id: str, **body) -> dict:
    return ok(tenant.call("POST", SUM, json={"object_type_id": "note", "object_id": object_id,
                                             **body}))


def test_summary_is_the_texts_own_sentences_in_order_within_max_length(tenant):
    w = world(tenant)
    d = summarise(tenant, w["note"], max_length=160)
    assert d["method"] == "extractive" and d["model"] == "all-MiniLM-L6-v2"
    assert len(d["summary"]) <= 160 and d["summary_length"] == len(d["summary"])
    source = ["Library budget.", *sentences_of(ARTICLE)]
    picked = sentences_of(d["summary"])
    assert picked and all(s in source for s in picked)
    assert [source.index(s) for s in picked] == sorted(source.index(s) for s in picked)
    assert "library" in d["summary"].lower()  # what the text is about...
    assert "Weather" not in d["summary"]  # ...not the aside
    assert summarise(tenant, w["note"], max_length=160) == d  # deterministic


def test_summary_default_length_and_a_short_text_answering_itself(tenant):
    w = world(tenant)
    d = summarise(tenant, w["note"])
    assert 0 < len(d["summary"]) <= 300 and d["sentences"]["total"] == 8
    short = make_object(tenant, "note", title="Short", body="Only this.")["id"]
    d = summarise(tenant, short, max_length=20)
    assert d["summary"] == "Short. Only this." and d["sentences"]["chosen"] == 2


def test_a_sentence_longer_than_max_length_is_cut_at_a_word(tenant):
    world(tenant)
    long = make_object(tenant, "note", body="word " * 30 + "end of a single long sentence")["id"]
    d = summarise(tenant, long, max_length=40)
    assert len(d["summary"]) <= 40 and d["summary"].endswith("…")


# -- tags -------------------------------------------------------------------------------------
def test_tags_come_from_the_vocabulary_and_the_texts_keyphrases(tenant):
    world(tenant)
    make_object(tenant, "note", title="x", labels=["baking", "pastry"])
    recipe = make_object(tenant, "note", title="Grandma's apple pie", body=(
        "Bake the apple pie in a hot oven for forty minutes. Cinnamon and sugar go over the "
        "sliced apples before the butter crust closes the pie."))["id"]
    body = {"object_type_id": "note", "object_id": recipe}
    d = ok(tenant.call("POST", TAG, json=body))
    assert 1 <= len(d["tags"]) <= 10 and d["tags"] == [t["tag"] for t in d["details"]]
    vocab = [t["tag"] for t in d["details"] if t["source"] == "vocabulary"]
    phrases = [t["tag"] for t in d["details"] if t["source"] == "keyphrase"]
    assert "cooking" in vocab and "finance" not in vocab and "baking" in vocab
    assert phrases and any("apple" in p or "pie" in p for p in phrases)
    words = recipe_words(tenant, recipe)
    assert all(set(p.split()) <= words for p in phrases)  # phrases of the text, not invented
    assert ok(tenant.call("POST", TAG, json=body)) == d  # deterministic


def recipe_words(tenant, object_id: str) -> set[str]:
    props = ok(tenant.call("GET", f"/v1/objects/note/{object_id}"))["properties"]
    text = f"{props.get('title', '')} {props.get('body', '')}".lower()
    return set(re.findall(r"[\w']+", text))


# -- image facts ------------------------------------------------------------------------------
def test_describe_a_png_states_measured_facts_only(tenant):
    fid = upload(tenant, image("PNG", (40, 20), (220, 30, 30)), "red banner.png")
    d = describe(tenant, fid)
    assert d["filename"] == "red banner.png" and d["model"] == "raybase-image-facts"
    f = d["details"]
    assert (f["format"], f["width"], f["height"], f["orientation"]) == ("PNG", 40, 20,
                                                                       "landscape")
    assert f["colors"][0]["name"] == "red" and f["colors"][0]["share"] == 1.0
    assert f["text_found"] is None and "OCR" in f["text_found_reason"]
    assert f["animated"] is False and f["transparent"] is False and f["exif"] is None
    assert "40x20" in d["description"] and "red" in d["description"]


def test_describe_jpeg_exif_gif_frames_and_transparency(tenant):
    exif = Image.Exif()
    exif[271], exif[272], exif[306] = "Canon", "EOS 5D", "2024:05:01 10:00:00"
    jpeg = describe(tenant, upload(tenant, image("JPEG", (30, 60), (20, 20, 20), exif=exif),
                                   "night.jpg"))
    assert jpeg["details"]["exif"]["camera_model"] == "EOS 5D"
    assert jpeg["details"]["orientation"] == "portrait" and "dark" in jpeg["description"]
    assert "Canon EOS 5D" in jpeg["description"] and "2024:05:01" in jpeg["description"]
    frames = [Image.new("RGB", (10, 10), c) for c in ("blue", "white", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100)
    gif = describe(tenant, upload(tenant, buf.getvalue(), "blink.gif"))["details"]
    assert gif["animated"] and gif["frames"] == 3
    clear = describe(tenant, upload(tenant, image("WEBP", (8, 8), (0, 0, 255, 0), "RGBA"),
                                    "clear.webp"))["details"]
    assert clear["format"] == "WEBP" and clear["transparent"] and clear["orientation"] == "square"


def test_describe_refuses_what_is_not_an_image(tenant):
    text = upload(tenant, b"just some words, not pixels", "fake.png")
    assert err(tenant.call("POST", DESC, json={"file_id": text}), 400,
               "VALIDATION_ERROR")["field"] == "file_id"
    broken = upload(tenant, image()[:40], "broken.png")  # a PNG header, no pixels
    assert err(tenant.call("POST", DESC, json={"file_id": broken}), 400,
               "VALIDATION_ERROR")["field"] == "file_id"
    bmp = upload(tenant, image("BMP"), "old.bmp")
    assert err(tenant.call("POST", DESC, json={"file_id": bmp}), 400,
               "VALIDATION_ERROR")["field"] == "file_id"


def test_describe_refuses_an_image_over_10_mb(tenant):
    big = image()[:-12] + b"\x00" * (10 * 1024 * 1024)  # PNG bytes, 10 MB of trailing padding
    e = err(tenant.call("POST", DESC, json={"file_id": upload(tenant, big, "big.png")}), 400,
            "VALIDATION_ERROR")
    assert e["field"] == "file_id" and "10,485,760" in e["message"]


# -- tenant isolation -------------------------------------------------------------------------
def test_another_tenants_objects_and_files_are_not_found(client, tenant):
    w = world(tenant)
    fid = upload(tenant, image())
    other = create_tenant(client, "Other")
    make_type(other, "note", [("title", "string")])
    for path, body in ((SUM, {"object_type_id": "note", "object_id": w["note"]}),
                       (TAG, {"object_type_id": "note", "object_id": w["note"]}),
                       (DESC, {"file_id": fid})):
        err(other.call("POST", path, json=body), 404, "NOT_FOUND")
    assert describe(tenant, fid)["details"]["format"] == "PNG"
