"""Cursors, limits and the keyset predicate shared by every list."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import datetime

import duckdb
import pytest

from storage.errors import ApiError, Code
from storage.paging import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    clamp_limit,
    decode_cursor,
    encode_cursor,
    keyset_after,
    keyset_params,
)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_cursor_round_trip():
    data = {"s": "created_at", "o": "desc", "k": [0, "2026-01-01 10:00:00.123456", "obj_1"]}
    cursor = encode_cursor(data)
    assert "=" not in cursor and "+" not in cursor and "/" not in cursor
    assert decode_cursor(cursor, ("s", "o", "k")) == data


def test_cursor_carries_datetimes_as_strings():
    cursor = encode_cursor({"t": datetime(2026, 1, 2, 3, 4, 5)})
    assert decode_cursor(cursor, ("t",)) == {"t": "2026-01-02 03:04:05"}


@pytest.mark.parametrize("cursor", [None, ""])
def test_no_cursor_is_the_first_page(cursor):
    assert decode_cursor(cursor, ("id",)) is None


@pytest.mark.parametrize("cursor", [
    "!!!", "not a cursor", "é", b64(b"hello"), b64(b"\xff\xfe"), b64(b"[1, 2]"), b64(b'"id"'),
    b64(b"null"), b64(json.dumps({"other": 1}).encode()),
])
def test_garbage_cursor_is_a_validation_error(cursor):
    with pytest.raises(ApiError) as info:
        decode_cursor(cursor, ("id",))
    assert info.value.code is Code.VALIDATION_ERROR
    assert info.value.status == 400
    assert info.value.details == {"field": "cursor"}


@pytest.mark.parametrize("limit, expected", [(None, DEFAULT_LIMIT), (1, 1), (50, 50),
                                             (MAX_LIMIT, MAX_LIMIT)])
def test_limit_in_bounds(limit, expected):
    assert DEFAULT_LIMIT == 20 and MAX_LIMIT == 100
    assert clamp_limit(limit) == expected


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1, 10_000])
def test_limit_out_of_bounds(limit):
    with pytest.raises(ApiError) as info:
        clamp_limit(limit)
    assert info.value.status == 400
    assert info.value.details == {"field": "limit"}


def test_keyset_sql_shape():
    assert keyset_after(["id"], False) == "id > ?"
    assert keyset_after(["a", "b", "c"], True) == (
        "(a < ? OR (a = ? AND (b < ? OR (b = ? AND c < ?))))")
    assert keyset_params([1, 2, 3]) == [1, 1, 2, 2, 3]
    assert keyset_params(["x"]) == ["x"]


@pytest.mark.parametrize("descending", [False, True])
def test_keyset_pages_cover_every_row_once_in_order(descending):
    conn = duckdb.connect()
    rows = [(a, b, f"id{i:03d}") for i, (a, b) in
            enumerate(itertools.product([2, 1, 1, 0], [1, 0, 1]))]
    conn.execute("CREATE TABLE t (a INTEGER, b INTEGER, id VARCHAR)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    direction = "DESC" if descending else "ASC"
    order = f"ORDER BY a {direction}, b {direction}, id {direction}"
    seen, last = [], None
    while True:
        where = "TRUE" if last is None else keyset_after(["a", "b", "id"], descending)
        params = [] if last is None else keyset_params(list(last))
        page = conn.execute(f"SELECT a, b, id FROM t WHERE {where} {order} LIMIT 5",
                            params).fetchall()
        if not page:
            break
        seen += page
        last = page[-1]
    assert seen == sorted(rows, reverse=descending)
