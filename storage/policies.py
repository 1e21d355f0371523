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

Enforcement (PostgreSQL's permissive policies): `guard(db, ctx, t, action)` is the SQL an end
user's rows of type `t` must match for `action`, or None when nothing restricts it (an API key,
or no enabled policy for the action on the type). It is the OR of the caller's applicable
policies (role null, or one of the caller's roles: their ancestors are among them, so a policy
on a role reaches the roles below it), each bound to the caller and compiled like a search
filter. No applicable policy: FALSE. A policy that no longer compiles (its property was dropped,
a claim of the wrong type) matches nothing: policies fail closed. Readers AND the guard into
their own SQL (never filtered after paging); one record is checked by `allows`, which runs the
same SQL over that record as a one-row relation, so a row about to be written (WITH CHECK) is
judged exactly as the stored row would be.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from storage import columns, filters, schema
from storage.audit import record
from storage.db import Tx, ident, iso, utcnow
from storage.errors import ApiError, Code, invalid, not_found
from storage.filters import MAX_CONDITIONS, MAX_DEPTH, MAX_IN, OPERATORS
from storage.ids import new_id

ACTIONS = ("select", "insert", "update", "delete", "all")
AUTH_REF = re.compile(r"^(user_id|role|email|claims(\.[A-Za-z0-9_-]{1,64}){1,8})$")
AUTH_KEYS = ("user_id", "role", "email", "claims")
MAX_NAME = 100
# A bound condition compiles as one item of a search filter list: one level and one item fewer
# than a search's own filters may use, so every policy that parses also compiles.
MAX_GROUP_DEPTH, MAX_NODES = MAX_DEPTH - 1, MAX_CONDITIONS - 1
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
    counter[0] += 1  # conditions and groups: as the search filter compiler counts them
    if counter[0] > MAX_NODES:
        raise invalid(f"a condition holds at most {MAX_NODES} conditions and groups", WHERE)
    if not groups:
        return _condition(node, where)
    if len(node) != 1:
        raise invalid(f"{where}: a group holds exactly one key, and or or", where)
    key = groups[0]
    items, here = node[key], f"{where}.{key}"
    if depth >= MAX_GROUP_DEPTH:
        raise invalid(f"{here}: groups nest at most {MAX_GROUP_DEPTH} deep", here)
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


# -- stored policies -------------------------------------------------------------------------
NS, KEY = "policies", "state"
MAX_PER_TYPE = 100
SELECT_POLICIES = "SELECT * FROM object_policies ORDER BY created_at, id"


def _state(db: Tx) -> dict[str, tuple[dict[str, Any], ...]]:
    """type id -> its policies (records, condition parsed), oldest first."""

    def read() -> dict[str, tuple[dict[str, Any], ...]]:
        found: dict[str, tuple[dict[str, Any], ...]] = {}
        for row in db.query(SELECT_POLICIES):
            rec = {**row, "condition_json": json.loads(row["condition_json"])}
            found[row["object_type_id"]] = (*found.get(row["object_type_id"], ()), rec)
        return found

    return db.cached(NS, KEY, read)


def _roles(db: Tx) -> dict[str, dict[str, Any]]:
    """role id -> role record (storage/roles.py keeps the state; read through its loader)."""
    from storage import roles  # roles counts and drops the policies naming a role

    return roles.role_records(db)


def out(rec: dict[str, Any], role_names: dict[str, dict[str, Any]]) -> dict[str, Any]:
    role = role_names.get(rec["role_id"]) if rec["role_id"] else None
    return {"id": rec["id"], "object_type_id": rec["object_type_id"], "name": rec["name"],
            "action": rec["action"], "role": None if role is None else role["name"],
            "role_id": rec["role_id"], "condition_json": rec["condition_json"],
            "enabled": rec["enabled"], "created_at": iso(rec["created_at"]),
            "updated_at": iso(rec["updated_at"])}


def _role_id(db: Tx, ref: str | None) -> str | None:
    if ref is None:
        return None
    known = _roles(db)
    hit = known.get(ref) or next((r for r in known.values() if r["name"] == ref), None)
    if hit is None:
        raise invalid(f"role '{ref}' does not exist: name a role by id or name, or null for "
                      "every role", "role")
    return hit["id"]


def _check_against(db: Tx, t: dict[str, Any], cond: dict[str, Any], where: str = WHERE) -> None:
    """400 naming the path when the condition does not fit the type: unknown properties, an
    operator the property's type has no use for, a literal value of the wrong type."""
    for key in ("and", "or"):
        if key in cond:
            for i, item in enumerate(cond[key]):
                _check_against(db, t, item, f"{where}.{key}[{i}]")
            return
    if not cond:
        return
    values = cond["value"] if isinstance(cond["value"], list) else [cond["value"]]
    if any(isinstance(v, dict) for v in values):
        filters.field(db, t, cond["property"], f"{where}.property")  # the value comes later
        return
    filters.compile_condition(db, t, cond, where)


def _checked(db: Tx, t: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    parsed = parse_policy(body)
    _check_against(db, t, parsed["condition_json"])
    return {**parsed, "role_id": _role_id(db, parsed["role"])}


def _save(db: Tx, t: dict[str, Any], recs: tuple[dict[str, Any], ...],
          row: dict[str, Any] | None = None, new: bool = False) -> None:
    if row is not None:
        (db.insert if new else db.update)(
            "object_policies", {**row, "condition_json": json.dumps(row["condition_json"])})
    db.put_cache(NS, KEY, {**_state(db), t["id"]: recs})


def _find(db: Tx, t: dict[str, Any], policy_id: str) -> dict[str, Any]:
    hit = next((p for p in _state(db).get(t["id"], ()) if p["id"] == policy_id), None)
    if hit is None:
        raise not_found("policy", policy_id)
    return hit


def list_policies(db: Tx, ctx: dict[str, Any], *, type_ref: str) -> list[dict[str, Any]]:
    t = schema.get_type(db, type_ref)
    names = _roles(db)
    return [out(p, names) for p in _state(db).get(t["id"], ())]


def create_policy(db: Tx, ctx: dict[str, Any], *, type_ref: str,
                  body: dict[str, Any]) -> dict[str, Any]:
    t = schema.get_type(db, type_ref)
    checked = _checked(db, t, body)
    held = _state(db).get(t["id"], ())
    if len(held) >= MAX_PER_TYPE:
        raise invalid(f"a type holds at most {MAX_PER_TYPE} policies", "name")
    ts = utcnow()
    rec = {"id": new_id("pol"), "object_type_id": t["id"], "name": checked["name"],
           "action": checked["action"], "role_id": checked["role_id"],
           "condition_json": checked["condition_json"], "enabled": checked["enabled"],
           "created_at": ts, "updated_at": ts}
    _save(db, t, (*held, rec), rec, new=True)
    record(db, ctx, "policy.create", "policy", rec["id"],
           {"object_type_id": t["id"], "action": rec["action"]})
    return out(rec, _roles(db))


def update_policy(db: Tx, ctx: dict[str, Any], *, type_ref: str, policy_id: str,
                  body: dict[str, Any]) -> dict[str, Any]:
    """Change some fields; the result is checked as a new policy would be."""
    t = schema.get_type(db, type_ref)
    rec = _find(db, t, policy_id)
    names = _roles(db)
    current = out(rec, names)
    merged = {k: current[k] for k in ("name", "action", "condition_json", "enabled")}
    merged["role"] = rec["role_id"]
    merged.update(body)
    checked = _checked(db, t, merged)
    new = {**rec, **{k: checked[k] for k in ("name", "action", "role_id", "condition_json",
                                             "enabled")}, "updated_at": utcnow()}
    recs = tuple(new if p["id"] == policy_id else p for p in _state(db)[t["id"]])
    _save(db, t, recs, new)
    record(db, ctx, "policy.update", "policy", policy_id, {"fields": sorted(body)})
    return out(new, names)


def delete_policy(db: Tx, ctx: dict[str, Any], *, type_ref: str,
                  policy_id: str) -> dict[str, Any]:
    t = schema.get_type(db, type_ref)
    _find(db, t, policy_id)
    db.delete("object_policies", "id", policy_id)
    _save(db, t, tuple(p for p in _state(db)[t["id"]] if p["id"] != policy_id))
    record(db, ctx, "policy.delete", "policy", policy_id, {"object_type_id": t["id"]})
    return {"id": policy_id, "deleted": True}


def naming_role(db: Tx, role_id: str) -> int:
    """How many policies target the role (the role delete's dependency count)."""
    return sum(p["role_id"] == role_id for recs in _state(db).values() for p in recs)


def drop_role(db: Tx, role_id: str) -> None:
    """Delete the policies targeting a role being deleted (confirmed by its 409's token)."""
    if naming_role(db, role_id):
        db.delete("object_policies", "role_id", role_id)
        db.put_cache(NS, KEY, {k: tuple(p for p in recs if p["role_id"] != role_id)
                               for k, recs in _state(db).items()})


def drop_type(db: Tx, type_id: str) -> None:
    """Forget a deleted type's policies (the type's delete removes their rows)."""
    db.put_cache(NS, KEY, {k: v for k, v in _state(db).items() if k != type_id})


# -- enforcement -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Guard:
    """A boolean SQL expression over a type's table (and its parameters) that rows must meet."""

    sql: str
    params: tuple[Any, ...] = ()

    def where(self, sql: str, params: list[Any]) -> tuple[str, list[Any]]:
        """`sql AND` this guard, with both parameter lists."""
        return f"({sql}) AND {self.sql}", [*params, *self.params]


NOTHING = Guard("FALSE")


def caller(ctx: dict[str, Any]) -> dict[str, Any]:
    """The `$auth` values of the caller (an end user's context)."""
    return {"user_id": ctx.get("user_id"), "role": ctx.get("role"), "email": ctx.get("email"),
            "claims": ctx.get("claims") or {}}


def applicable(db: Tx, ctx: dict[str, Any], type_id: str,
               action: str) -> list[dict[str, Any]] | None:
    """The enabled policies of the type for `action` that reach the caller, or None when the
    caller is not subject to policies there (an API key; no enabled policy for the action)."""
    if ctx.get("user_id") is None:
        return None
    enabled = [p for p in _state(db).get(type_id, ())
               if p["enabled"] and p["action"] in (action, "all")]
    if not enabled:
        return None
    mine = set(ctx.get("roles") or ())
    known = _roles(db)
    return [p for p in enabled if p["role_id"] is None or (
        p["role_id"] in known and known[p["role_id"]]["name"] in mine)]


def guard(db: Tx, ctx: dict[str, Any], t: dict[str, Any], action: str) -> Guard | None:
    """What the caller's rows of `t` must match for `action` (see the module's doc)."""
    found = applicable(db, ctx, t["id"], action)
    if found is None:
        return None
    auth = caller(ctx)
    parts, params = [], []
    for policy in found:
        bound = bind(policy["condition_json"], auth)
        if bound is None:
            continue
        if bound == {}:
            return Guard("TRUE")
        try:
            sql, values = filters.compile_filters(db, t, [bound], WHERE)
        except ApiError:  # the policy no longer fits the type, or a claim's value the property
            continue      # cannot hold: it matches nothing
        parts.append(sql)
        params.extend(values)
    if not parts:
        return NOTHING
    return Guard("(" + " OR ".join(parts) + ")", tuple(params))


def allows(db: Tx, t: dict[str, Any], rec: dict[str, Any], g: Guard | None) -> bool:
    """Whether an object record (stored, or about to be) meets the guard, judged by the same
    SQL over the record as a one-row relation with the type's columns."""
    if g is None or g.sql == "TRUE":
        return True
    if g is NOTHING:
        return False
    props = schema.load(db).properties(t["id"])
    stored = columns.row(rec, props)
    cols = [*columns.SYSTEM, *((f"p_{p['id']}", columns.sql_type(p["data_type"]))
                               for p in props)]
    one = ", ".join(f"CAST(? AS {kind}) AS {ident(name)}" for name, kind in cols)
    return bool(db.scalar(f"WITH r AS (SELECT {one}) SELECT {g.sql} FROM r",
                          [*(stored[name] for name, _ in cols), *g.params]))


def visible_ids(db: Tx, ctx: dict[str, Any], t: dict[str, Any], ids: list[str]) -> set[str]:
    """Those of the ids the caller may see (select), in one read of the type's table."""
    g = guard(db, ctx, t, "select")
    if g is None or not ids:
        return set(ids)
    marks = ", ".join("?" * len(ids))
    rows = db.query(f"SELECT id FROM {columns.table(t['id'])} WHERE id IN ({marks}) "
                    f"AND {g.sql}", [*ids, *g.params])
    return {r["id"] for r in rows}


def refuse(t: dict[str, Any], action: str, object_id: str | None = None) -> ApiError:
    what = f"object '{object_id}'" if object_id else f"this {t['name']}"
    verb = {"insert": "create", "update": "make this change to", "delete": "delete"}[action]
    return ApiError(Code.POLICY_VIOLATION, f"a row-level policy of '{t['name']}' does not let "
                    f"you {verb} {what}", action=action)


def visibility(db: Tx, ctx: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """For realtime delivery in the gateway: type id -> the caller's bound select conditions
    (properties named by name), for each type whose select the caller is subject to; `[{}]`
    when a policy lets every row through, `[]` when none reaches the caller. Absent: open."""
    found: dict[str, list[dict[str, Any]]] = {}
    for type_id in _state(db):
        t = schema.load(db).types.get(type_id)
        policies = applicable(db, ctx, type_id, "select") if t is not None else None
        if policies is None:
            continue
        conds = []
        for policy in policies:
            bound = bind(policy["condition_json"], caller(ctx))
            if bound == {}:
                conds.append({})  # every row
            elif bound is not None:
                try:
                    filters.compile_filters(db, t, [bound], WHERE)  # fails closed, as in SQL
                except ApiError:
                    continue
                conds.append(_by_name(db, t, bound))
        found[type_id] = conds
    return found


def _by_name(db: Tx, t: dict[str, Any], cond: dict[str, Any]) -> dict[str, Any]:
    for key in ("and", "or"):
        if key in cond:
            return {key: [_by_name(db, t, c) for c in cond[key]]}
    if not cond:
        return cond
    return {**cond, "property": filters.field(db, t, cond["property"]).name}
