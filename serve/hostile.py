"""Input refused at the gateway, before any handler or shard sees it: 400 `VALIDATION_ERROR`
naming the field. Storage cannot hold these, or the stack cannot carry them safely:

- a lone UTF-16 surrogate in a JSON string or key (`"\\ud800"`: Python's json accepts it, no
  UTF-8 store or encoder does) and a JSON body that is not UTF-8;
- `NaN`/`Infinity` literals (not JSON) and numbers too large for a double (`1e400`);
- nesting deeper than `MAX_DEPTH` (recursion in the parser, pickling and encoders);
- a query string or path that percent-decodes to invalid UTF-8.

The checks cost a few scans of the bytes; a body is parsed here only when a scan finds a suspect
(a surrogate escape, a literal, a long exponent, deep brackets).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

import numpy as np

from storage.errors import ApiError, Code

MAX_DEPTH = 64  # JSON nesting a request body may have
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# Numbers as shapes: digits -> 0, E -> e, signs dropped; then plain substring searches find an
# exponent of 3+ digits or a 300-digit run (a double overflows at 1e309) far faster than a regex.
_SHAPES = bytes.maketrans(b"0123456789E", b"0000000000e")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")  # opening 2, closing 0: step + 1
_NON_ASCII_ESCAPE = re.compile(rb"%[89a-fA-F][0-9a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Literal:
    """A NaN or Infinity literal found while parsing (kept so the walk can name its field)."""

    def __init__(self, name: str) -> None:
        self.name = name


def _bad(field: str, message: str) -> ApiError:
    return ApiError(Code.VALIDATION_ERROR, f"{field}: {message}", field=field)


def depth(body: bytes) -> int:
    """How deep the brackets of a JSON text nest, strings left out."""
    if b'\\"' in body:
        outside = _STRING.sub(b"", body)
    else:  # no escaped quote: every other piece between quotes is inside a string
        outside = b"".join(body.split(b'"')[::2])
    steps = np.frombuffer(outside.translate(_STEPS, _NOT_BRACKETS), np.uint8)
    return int(np.cumsum(steps.astype(np.int32) - 1).max()) if len(steps) else 0


def _suspect(body: bytes) -> bool:
    """Whether the body may hold a refused value (false positives only cost a parse)."""
    if b"\\u" in body and _SURROGATE_ESCAPE.search(body):
        return True
    if b"NaN" in body or b"Infinity" in body:
        return True
    shapes = body.translate(_SHAPES, b"+-")
    return b"e000" in shapes or b"0" * 300 in shapes


def body_problem(body: bytes) -> ApiError | None:
    """Why a JSON request body is refused, or None (also for text that is not JSON at all: the
    handler's own parse answers that)."""
    if not body.isascii():
        try:
            body.decode()
        except UnicodeDecodeError as exc:
            return _bad("body", f"not valid UTF-8 (byte {exc.start})")
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH and depth(body) > MAX_DEPTH:
        return _bad("body", f"JSON nested deeper than {MAX_DEPTH} levels")
    if not _suspect(body):
        return None
    try:
        value = json.loads(body, parse_constant=_Literal)
    except (ValueError, RecursionError):
        return None
    for path, problem in _walk(value, ()):
        return _bad(_name(path), problem)
    return None


def _walk(value: Any, path: tuple) -> Iterator[tuple[tuple, str]]:
    """(path, problem) of each refused value, depth first (depth is bounded by MAX_DEPTH)."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            yield path, "text must be valid Unicode (a lone UTF-16 surrogate is not)"
    elif isinstance(value, _Literal):
        yield path, f"{value.name} is not a JSON number"
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield path, "number is too large"
    elif isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(key):
                yield (*path, key), "key must be valid Unicode (a lone UTF-16 surrogate is not)"
            yield from _walk(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, (*path, i))


def _name(path: tuple) -> str:
    """A field path as the envelope names fields (`objects.2.properties.title`); a surrogate in
    a key is shown escaped, so the answer itself can be encoded."""
    text = ".".join(str(p) for p in path) or "body"
    return text.encode("utf-8", "backslashreplace").decode()


def url_problem(raw_path: bytes, query: bytes) -> ApiError | None:
    """Why a request's path or query string is refused: it percent-decodes to invalid UTF-8."""
    if _NON_ASCII_ESCAPE.search(raw_path) or not raw_path.isascii():
        try:
            unquote_to_bytes(raw_path).decode()
        except UnicodeDecodeError:
            return _bad("path", "the path is not valid UTF-8 once decoded")
    if not (_NON_ASCII_ESCAPE.search(query) or not query.isascii()):
        return None
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        try:
            name_text = unquote_to_bytes(name.replace(b"+", b" ")).decode()
        except UnicodeDecodeError:
            return _bad("query", "a parameter name is not valid UTF-8 once decoded")
        try:
            unquote_to_bytes(value.replace(b"+", b" ")).decode()
        except UnicodeDecodeError:
            return _bad(name_text or "query", "not valid UTF-8 once decoded")
    return None
