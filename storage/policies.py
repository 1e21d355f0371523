"""Row-level policies: parsing and checking one, and evaluating it against sample rows.

A policy is `{name, action: select|insert|update|delete|all, role: <name> | null, condition_json,
enabled}`. `condition_json` is one node of the search filter language (storage/filters.py): a
condition `{"property", "operator", "value"}` or a group `{"and": [...]}` / `{"or": [...]}`;
`{}` matches every row. A value (or an element of an `in` list) may be a reference to the
caller, `{"$auth": "user_id" | "role" | "email" | "claims.<path>"}`; a reference that resolves
to nothing makes its condition false (an owner policy never matches rows of nobody).

`parse_policy` checks the structure without a type (400 naming the path, e.g.
`condition_json.or[1].operator`); `bind` replaces the references by a caller's values, which
leaves a plain search filter: what `filters.compile_filters` turns into SQL against a type (it
checks values against the properties' types), and what `evaluate` runs over plain rows.
"""

from __future__ import annotations

import re
from typing import Any

from storage.errors import invalid
from storage.filters import MAX_CONDITIONS, MAX_DEPTH, MAX_IN, OPERATORS

ACTIONS = ("select", "insert", "update", "delete", "all")
AUTH_REF = re.compile(r"^(user_id|role|email|claims(\.[A-Za-z0-9_-]{1,64}){1,8})$")
AUTH_KEYS = ("user_id", "role", "email", "claims")
MAX_NAME = 100
MAX_PROPERTY = 200
MAX_SAMPLE_ROWS = 1000
WHERE = "condition_json"
Scalar = (str, int, float, bool, type(None))


# -- parsing ---------------------------------------------------------------------------------
def _value(value: Any, where: str) -> Any:
    """A scalar or a `$auth` reference."""
    if isinstance(value, dict):
        if set(value) != {"$auth"} or not isinstance(value["$auth"], str) or \
                not AUTH_REF.match(value["$auth"]):
            raise invalid(f"{where} must be a value or {{\"$auth\": \"user_id\" | \"role\" | "
                          "\"email\" | \"claims.<path>\"}", where)
        return {"$auth": value["$auth"]}
    if not isinstance(value, Scalar):
        raise invalid(f"{where} must be a string, number, boolean, null or an $auth reference",
                      where)
    return value


def _condition(node: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = set(node) - {"property", "operator", "value"}
    if unknown:
        raise invalid(f"{where}: unknown key(s) {sorted(unknown)}; a condition is "
                      '{"property", "operator", "value"} or {"or"|"and": [...]}', where)
    prop = node.get("property")
    if not isinstance(prop, str) or not prop.strip() or len(prop) > MAX_PROPERTY:
        raise invalid(f"{where}.property must name a property or a system field",
                      f"{where}.property")
    op = node.get("operator", "eq")
    if op not in OPERATORS:
        raise invalid(f"{where}.operator must be one of {', '.join(OPERATORS)}",
                      f"{where}.operator")
    raw, at = node.get("value"), f"{where}.value"
    if op in ("is_null", "is_not_null"):
        value = None
    elif op == "between":
        if not isinstance(raw, list) or len(raw) != 2:
            raise invalid(f"{at} must be [low, high] for between", at)
        value = [_value(v, f"{at}[{i}]") for i, v in enumerate(raw)]
    elif op in ("in", "not_in"):
        if not isinstance(raw, list) or not raw or len(raw) > MAX_IN:
            raise invalid(f"{at} must be a list of 1 to {MAX_IN} values", at)
        value = [_value(v, f"{at}[{i}]") for i, v in enumerate(raw)]
    elif op in ("contains", "not_contains", "starts_with", "ends_with"):
        value = _value(raw, at)
        if value is None or value == "":
            raise invalid(f"{at} must be a non-empty value", at)
    else:
        value = _value(raw, at)
    return {"property": prop, "operator": op, "value": value}


def _node(node: Any, where: str, depth: int, counter: list[int]) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise invalid(f"{where} must be an object: a condition or an and/or group", where)
    groups = [k for k in ("and", "or") if k in node]
    if not groups:
        counter[0] += 1
        if counter[0] > MAX_CONDITIONS:
            raise invalid(f"a condition holds at most {MAX_CONDITIONS} conditions", WHERE)
        return _condition(node, where)
    if len(node) != 1:
        raise invalid(f"{where}: a group holds exactly one key, and or or", where)
    key = groups[0]
    items, here = node[key], f"{where}.{key}"
    if depth >= MAX_DEPTH:
        raise invalid(f"{here}: groups nest at most {MAX_DEPTH} deep", here)
    if not isinstance(items, list) or not items:
        raise invalid(f"{here} must be a non-empty list of conditions", here)
    return {key: [_node(item, f"{here}[{i}]", depth + 1, counter)
                  for i, item in enumerate(items)]}


def parse_condition(value: Any, where: str = WHERE) -> dict[str, Any]:
    """The checked condition (`{}`: every row), or 400 naming the bad part's path."""
    if value is None or value == {}:
        return {}
    return _node(value, where, 0, [0])


def parse_policy(policy: Any) -> dict[str, Any]:
    """The checked policy `{name, action, role, condition_json, enabled}`, or 400 naming the
    field (`policy.` is not prefixed: the create and update bodies are the policy)."""
    if not isinstance(policy, dict):
        raise invalid("policy must be an object {name, action, role, condition_json, enabled}",
                      "policy")
    unknown = set(policy) - {"name", "action", "role", "condition_json", "enabled"}
    if unknown:
        raise invalid(f"unknown policy field(s) {sorted(unknown)}", sorted(unknown)[0])
    name = policy.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise invalid(f"name must be a non-blank string of at most {MAX_NAME} characters", "name")
    action = policy.get("action")
    if action not in ACTIONS:
        raise invalid(f"action must be one of {', '.join(ACTIONS)}", "action")
    role = policy.get("role")
    if role is not None and (not isinstance(role, str) or not role.strip() or len(role) > 100):
        raise invalid("role must be a role name or id, or null (every role)", "role")
    enabled = policy.get("enabled", True)
    if not isinstance(enabled, bool):
        raise invalid("enabled must be true or false", "enabled")
    return {"name": name, "action": action, "role": role,
            "condition_json": parse_condition(policy.get("condition_json")), "enabled": enabled}


def parse_auth(value: Any) -> dict[str, Any]:
    """The simulated caller `{user_id, role, email, claims}`, or 400."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise invalid("auth_context must be an object {user_id, role, email, claims}",
                      "auth_context")
    for key in value:
        if key not in AUTH_KEYS:
            raise invalid(f"auth_context.{key} is unknown: use {', '.join(AUTH_KEYS)}",
                          f"auth_context.{key}")
    for key in ("user_id", "role", "email"):
        if value.get(key) is not None and not isinstance(value[key], str):
            raise invalid(f"auth_context.{key} must be a string or null", f"auth_context.{key}")
    claims = value.get("claims") or {}
    if not isinstance(claims, dict):
        raise invalid("auth_context.claims must be an object", "auth_context.claims")
    return {**{k: value.get(k) for k in ("user_id", "role", "email")}, "claims": claims}


# -- binding and evaluation ------------------------------------------------------------------
def resolve(ref: str, auth: dict[str, Any]) -> Any:
    """The caller's value a `$auth` reference names (None when absent)."""
    head, _, path = ref.partition(".")
    value: Any = auth.get(head)
    for part in path.split(".") if path else ():
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, Scalar) else None


def _bound(value: Any, auth: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return resolve(value["$auth"], auth)
    if isinstance(value, list):
        return [_bound(v, auth) for v in value]
    return value


def bind(condition: dict[str, Any], auth: dict[str, Any]) -> dict[str, Any] | None:
    """The condition with the caller's values in place of references: a search filter. None
    when it can match nothing (a condition whose reference resolves to nothing, in an `and`
    or alone; such a condition is dropped from an `or`)."""
    if not condition:
        return {}
    for key in ("and", "or"):
        if key in condition:
            parts = [bind(c, auth) for c in condition[key]]
            kept = [p for p in parts if p is not None]
            if (key == "and" and len(kept) < len(parts)) or not kept:
                return None
            return {key: kept}
    value = _bound(condition["value"], auth)
    refs = condition["value"] if isinstance(condition["value"], list) else [condition["value"]]
    if any(isinstance(r, dict) for r in refs) and (value is None or (
            isinstance(value, list) and any(v is None for v in value))):
        return None
    return {**condition, "value": value}


def _field(row: dict[str, Any], prop: str) -> Any:
    if prop in row:
        return row[prop]
    props = row.get("properties")
    return props.get(prop) if isinstance(props, dict) else None


def _order(a: Any, b: Any) -> bool:
    """Whether a and b compare (both numbers, or both strings)."""
    num = (int, float)
    return (isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool)
            and not isinstance(b, bool)) or (isinstance(a, str) and isinstance(b, str))


def _test(cond: dict[str, Any], row: dict[str, Any]) -> bool:
    """One bound condition on one row, as its SQL would answer."""
    v, op, x = _field(row, cond["property"]), cond["operator"], cond["value"]
    if op in ("is_null", "is_not_null"):
        return (v is None) == (op == "is_null")
    if op in ("eq", "neq"):
        same = v == x and isinstance(v, bool) == isinstance(x, bool)
        return same == (op == "eq")
    if op in ("in", "not_in"):
        hit = v is not None and any(v == e for e in x)
        return hit if op == "in" else not hit
    if op in ("gt", "gte", "lt", "lte"):
        if not _order(v, x):
            return False
        return {"gt": v > x, "gte": v >= x, "lt": v < x, "lte": v <= x}[op]
    if op == "between":
        return _order(v, x[0]) and _order(v, x[1]) and x[0] <= v <= x[1]
    if op in ("contains", "not_contains"):
        if isinstance(v, list):
            hit = x in v
        else:
            hit = isinstance(v, str) and isinstance(x, str) and x.lower() in v.lower()
        return hit if op == "contains" else not hit
    if not isinstance(v, str) or not isinstance(x, str):
        return False
    return v.lower().startswith(x.lower()) if op == "starts_with" else \
        v.lower().endswith(x.lower())


def evaluate(condition: dict[str, Any], row: dict[str, Any], auth: dict[str, Any],
             where: str = WHERE) -> tuple[bool, list[str]]:
    """(whether the row matches, the paths of the conditions it meets)."""
    if not condition:
        return True, [where]
    for key in ("and", "or"):
        if key in condition:
            results = [evaluate(c, row, auth, f"{where}.{key}[{i}]")
                       for i, c in enumerate(condition[key])]
            met = [p for _, paths in results for p in paths]
            oks = [ok for ok, _ in results]
            return (all(oks) if key == "and" else any(oks)), met
    bound = bind(condition, auth)
    ok = bound is not None and _test(bound, row)
    return ok, [where] if ok else []


def simulate(policy: Any, auth_context: Any, sample_data: Any) -> dict[str, Any]:
    """Which sample rows (system fields at the top level, properties by name) the policy lets
    through for the caller, and which of its conditions each one meets."""
    parsed = parse_policy(policy)
    auth = parse_auth(auth_context)
    if not isinstance(sample_data, list) or len(sample_data) > MAX_SAMPLE_ROWS:
        raise invalid(f"sample_data must be a list of at most {MAX_SAMPLE_ROWS} rows",
                      "sample_data")
    for i, row in enumerate(sample_data):
        if not isinstance(row, dict):
            raise invalid(f"sample_data[{i}] must be an object (a row)", f"sample_data[{i}]")
    applies = parsed["role"] is None or parsed["role"] == auth["role"]
    results = []
    for i, row in enumerate(sample_data):
        ok, met = evaluate(parsed["condition_json"], row, auth)
        results.append({"index": i, "allowed": ok and applies, "matched_conditions": met})
    allowed = sum(r["allowed"] for r in results)
    return {"results": results, "allowed_count": allowed,
            "denied_count": len(results) - allowed, "applies": applies, "policy": parsed}
