"""Every one of the 22 property data types: values it accepts (and how it stores them), and values
it rejects."""

from __future__ import annotations

import pytest

from storage.datatypes import DATA_TYPES, SCALAR_TYPES, Invalid, check_value

ENUM_VALUES = ["red", "green", "blue"]
OBJ_ID = "obj_" + "0123456789abcdef012345"
FILE_ID = "file_" + "abcdef0123456789abcdef"
SAME = object()


def ok(data_type, value, stored=SAME):
    return pytest.param(data_type, value, value if stored is SAME else stored,
                        id=f"{data_type}-{value!r}"[:50])


def bad(data_type, value):
    return pytest.param(data_type, value, id=f"{data_type}-{value!r}"[:50])


ACCEPTED = [
    ok("string", "hello"), ok("string", ""), ok("string", "x" * 10_000),
    ok("text", "x" * 10_001), ok("rich_text", "<p>Hi <b>there</b></p>"),
    ok("integer", 42), ok("integer", 0), ok("integer", -(2**63)), ok("integer", 2**63 - 1),
    ok("integer", 3.0, 3),
    ok("number", 1.5), ok("number", -7), ok("number", 0.0),
    ok("currency", "19.99", "19.99"), ok("currency", 19.99, "19.99"), ok("currency", 5, "5"),
    ok("currency", "-0.0001", "-0.0001"), ok("currency", "12.3400", "12.3400"),
    ok("currency", " 7.50 ", "7.50"),
    ok("percent", 12.5), ok("percent", 100),
    ok("boolean", True), ok("boolean", False),
    ok("date", "2024-02-29"), ok("date", "1999-12-31"),
    ok("datetime", "2024-01-31T23:59:59Z"), ok("datetime", "2024-01-31 08:00:00"),
    ok("datetime", "2024-01-31T08:00:00.123+02:00"),
    ok("time", "08:30"), ok("time", "23:59:59"),
    ok("email", "ada@example.com"), ok("email", "first.last+tag@mail.example.org"),
    ok("url", "https://example.com/path?q=1#top"), ok("url", "http://localhost:8000"),
    ok("phone", "+1 (555) 123-4567"), ok("phone", "0612345678"), ok("phone", "12.34.56"),
    ok("enum", "red"), ok("enum", "blue"),
    ok("multi_enum", ["red", "green"]), ok("multi_enum", []),
    ok("json", {"a": [1, {"b": None}]}), ok("json", "text"), ok("json", 3), ok("json", [1]),
    ok("array", [1, "a", None]), ok("array", []),
    ok("uuid", "123e4567-e89b-12d3-a456-426614174000"),
    ok("uuid", "123E4567E89B12D3A456426614174000"),
    ok("reference", OBJ_ID), ok("file", FILE_ID),
    ok("geo_point", {"lat": 48.8566, "lng": 2.3522}), ok("geo_point", {"lat": -90, "lng": 180}),
    ok("geo_point", {"lat": 90, "lng": -180}),
]

REJECTED = [
    bad("string", 5), bad("string", ["a"]), bad("string", "x" * 10_001),
    bad("text", 1.5), bad("text", "x" * 1_000_001), bad("rich_text", {"html": "x"}),
    bad("integer", True), bad("integer", False), bad("integer", 1.5), bad("integer", "1"),
    bad("integer", float("nan")), bad("integer", float("inf")), bad("integer", 2**63),
    bad("integer", -(2**63) - 1), bad("integer", 1e20),
    bad("number", True), bad("number", "1.5"), bad("number", float("nan")),
    bad("number", float("-inf")), bad("number", [1]),
    bad("currency", "19.99999"), bad("currency", 0.00001), bad("currency", "abc"),
    bad("currency", True), bad("currency", "NaN"), bad("currency", "Infinity"),
    bad("currency", 10**15), bad("currency", [1]), bad("currency", ""),
    bad("percent", float("nan")), bad("percent", True), bad("percent", "50%"),
    bad("boolean", 1), bad("boolean", 0), bad("boolean", "true"), bad("boolean", None),
    bad("date", "2023-02-29"), bad("date", "2024-1-01"), bad("date", "20240101"),
    bad("date", "2024-W01-1"), bad("date", "2024-01-01T00:00:00"), bad("date", 20240101),
    bad("datetime", "2024-01-01"), bad("datetime", "2024-01-01T25:00:00"),
    bad("datetime", "yesterday"), bad("datetime", 1_700_000_000),
    bad("time", "25:00"), bad("time", "12:60"), bad("time", "noon"), bad("time", 1230),
    bad("email", "ada@"), bad("email", "ada@example"), bad("email", "ada lovelace@x.com"),
    bad("email", "a@b.c"), bad("email", "@example.com"), bad("email", "a@b@example.com"),
    bad("email", 5), bad("email", "a" * 250 + "@example.com"),
    bad("url", "ftp://example.com"), bad("url", "example.com"), bad("url", "https://"),
    bad("url", "javascript:alert(1)"), bad("url", 5),
    bad("phone", "12a45"), bad("phone", "1234"), bad("phone", "-----"),
    bad("phone", "1" * 26), bad("phone", 5551234), bad("phone", "555+1234"),
    bad("enum", "purple"), bad("enum", "RED"), bad("enum", ["red"]), bad("enum", 1),
    bad("multi_enum", "red"), bad("multi_enum", ["red", "purple"]),
    bad("multi_enum", ["red", "red"]),
    bad("array", {"a": 1}), bad("array", "abc"), bad("array", 3),
    bad("uuid", "not-a-uuid"), bad("uuid", "123e4567-e89b-12d3-a456-42661417400"),
    bad("uuid", 5),
    bad("reference", "obj_123"), bad("reference", FILE_ID), bad("reference", "obj_" + "G" * 22),
    bad("reference", OBJ_ID.upper()), bad("reference", 5),
    bad("file", "file_xyz"), bad("file", OBJ_ID), bad("file", "file_" + "A" * 22),
    bad("geo_point", {"lat": 91, "lng": 0}), bad("geo_point", {"lat": 0, "lng": -180.5}),
    bad("geo_point", {"lat": 0}), bad("geo_point", {"lat": 0, "lng": 0, "alt": 1}),
    bad("geo_point", {"lat": "1", "lng": 2}), bad("geo_point", {"lat": True, "lng": 0}),
    bad("geo_point", {"lat": float("nan"), "lng": 0}), bad("geo_point", [48.8, 2.3]),
]


def prop(data_type: str) -> dict:
    enum = ENUM_VALUES if data_type in ("enum", "multi_enum") else None
    return {"name": "p", "data_type": data_type, "enum_values": enum}


def test_there_are_22_types_and_every_one_is_covered():
    assert len(DATA_TYPES) == len(set(DATA_TYPES)) == 22
    assert {p.values[0] for p in ACCEPTED} == set(DATA_TYPES)
    # json takes any JSON value, so it is the one type without a rejected value
    assert {p.values[0] for p in REJECTED} == set(DATA_TYPES) - {"json"}


def test_scalar_types_are_the_comparable_ones():
    assert SCALAR_TYPES == set(DATA_TYPES) - {"json", "array", "multi_enum", "geo_point",
                                              "rich_text"}


@pytest.mark.parametrize("data_type, value, stored", ACCEPTED)
def test_accepted(data_type, value, stored):
    result = check_value(prop(data_type), value)
    assert result == stored
    assert type(result) is type(stored)  # True is not 1, "19.99" is not 19.99


@pytest.mark.parametrize("data_type, value", REJECTED)
def test_rejected(data_type, value):
    with pytest.raises(Invalid) as info:
        check_value(prop(data_type), value)
    assert str(info.value)


def test_enum_checks_the_property_own_values():
    assert check_value({"data_type": "enum", "enum_values": ["x"]}, "x") == "x"
    with pytest.raises(Invalid):
        check_value({"data_type": "enum", "enum_values": ["x"]}, "red")
    with pytest.raises(Invalid):
        check_value({"data_type": "enum", "enum_values": None}, "x")
