"""Roles of end users: named permission sets with inheritance, and their assignment to users.

A permission is `<resource>:<action>`: resource `objects` (every type), `objects.<type name>`,
`files` or `comments`; action `read`, `create`, `update`, `delete` or `*`. A role inherits its
parent's permissions (and so on up the chain; cycles are refused). The built-in `anon` (anonymous
sessions) and `authenticated` (every signed-in user) exist in every tenant (a migration makes
them) and cannot be deleted; their permissions can be replaced. A user's effective roles are the
built-in one for its kind of session, the roles assigned to it, and all their ancestors.

The whole role state of a tenant (roles and assignments) is small and kept in the shard's cache,
so a user's access costs dictionary lookups; writes replace the cached state copy-on-write.
"""

from __future__ import annotations

import json
import re
from typing import Any

from storage import confirm, policies, schema
from storage.audit import record
from storage.auth import users
from storage.db import Tx, iso, utcnow
from storage.errors import ApiError, Code, invalid, not_found
from storage.ids import new_id

NS, KEY = "roles", "state"
ANON, AUTHENTICATED = "anon", "authenticated"
BUILT_IN = (ANON, AUTHENTICATED)
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
RESOURCES = ("objects", "files", "comments")
ACTIONS = ("read", "create", "update", "delete", "*")
PERMISSION = re.compile(r"^(objects|files|comments|objects\.([a-z][a-z0-9_]{0,62})):([a-z*]+)$")
MAX_PERMISSIONS = 200
MAX_DESCRIPTION = 1000
MAX_DEPTH = 32  # parent chains longer than this are refused (and cannot cycle unnoticed)

SELECT_ROLES = "SELECT * FROM roles"
SELECT_ASSIGNMENTS = "SELECT user_id, role_id FROM user_roles ORDER BY created_at, id"


# -- the cached state ------------------------------------------------------------------------
def _state(db: Tx) -> dict[str, Any]:
    """{"roles": {id: record}, "assign": {user_id: (role ids, in assignment order)}}."""

    def read() -> dict[str, Any]:
        roles = {r["id"]: {**r, "permissions": json.loads(r["permissions"] or "[]")}
                 for r in db.query(SELECT_ROLES)}
        assign: dict[str, tuple[str, ...]] = {}
        for row in db.query(SELECT_ASSIGNMENTS):
            assign[row["user_id"]] = (*assign.get(row["user_id"], ()), row["role_id"])
        return {"roles": roles, "assign": assign}

    return db.cached(NS, KEY, read)


def role_records(db: Tx) -> dict[str, dict[str, Any]]:
    """role id -> role record (policies name roles by id)."""
    return _state(db)["roles"]


def _save(db: Tx, state: dict[str, Any], rec: dict[str, Any] | None = None) -> None:
    """Replace the cached state (and buffer the role's row when `rec`)."""
    if rec is not None:
        row = {**rec, "permissions": json.dumps(rec["permissions"])}
        if rec["id"] in _state(db)["roles"]:
            db.update("roles", row)
        else:
            db.insert("roles", row)
    db.put_cache(NS, KEY, state)


def _find(state: dict[str, Any], ref: Any, field: str | None = None) -> dict[str, Any]:
    """A role by id or name, or 404."""
    if isinstance(ref, str):
        hit = state["roles"].get(ref) or next(
            (r for r in state["roles"].values() if r["name"] == ref), None)
        if hit is not None:
            return hit
    raise ApiError(Code.NOT_FOUND, f"role '{ref}' not found", **({"field": field} if field else {}))


def _chain(state: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    """The role and its ancestors, nearest first."""
    out, seen = [], set()
    current = state["roles"].get(role_id)
    while current is not None and current["id"] not in seen and len(out) < MAX_DEPTH:
        out.append(current)
        seen.add(current["id"])
        current = state["roles"].get(current["parent_role_id"] or "")
    return out


def out(rec: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    users_count = sum(rec["id"] in ids for ids in state["assign"].values())
    return {"id": rec["id"], "name": rec["name"], "description": rec["description"],
            "parent_role_id": rec["parent_role_id"], "permissions": list(rec["permissions"]),
            "built_in": rec["built_in"], "user_count": users_count,
            "created_at": iso(rec["created_at"]), "updated_at": iso(rec["updated_at"])}


# -- validation ------------------------------------------------------------------------------
def _name(state: dict[str, Any], value: Any, role_id: str = "") -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise invalid("name must be 1-63 lower-case letters, digits, _ or -, starting with a "
                      "letter", "name")
    if any(r["name"] == value and r["id"] != role_id for r in state["roles"].values()):
        raise ApiError(Code.CONFLICT, f"a role named '{value}' already exists", field="name")
    return value


def _description(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > MAX_DESCRIPTION):
        raise invalid(f"description must be a string of at most {MAX_DESCRIPTION} characters",
                      "description")
    return value


def _parent(state: dict[str, Any], value: Any, role_id: str = "") -> str | None:
    """The parent's id; 400 when it would make a cycle or a chain too long."""
    if value is None:
        return None
    parent = _find(state, value, "parent_role_id")
    chain = _chain(state, parent["id"])
    if role_id and any(r["id"] == role_id for r in chain):
        raise invalid("parent_role_id would make a cycle: the parent inherits from this role",
                      "parent_role_id")
    if len(chain) >= MAX_DEPTH - 1:
        raise invalid(f"roles inherit at most {MAX_DEPTH} levels deep", "parent_role_id")
    return parent["id"]


def check_permissions(value: Any) -> list[str]:
    """The permission list, de-duplicated in order; 400 naming `permissions[i]`."""
    if not isinstance(value, list) or len(value) > MAX_PERMISSIONS:
        raise invalid(f"permissions must be a list of at most {MAX_PERMISSIONS} strings",
                      "permissions")
    seen: list[str] = []
    for i, entry in enumerate(value):
        match = PERMISSION.match(entry) if isinstance(entry, str) else None
        if match is None or match.group(3) not in ACTIONS:
            raise invalid(f"permissions[{i}] must be '<resource>:<action>' with resource "
                          f"{', '.join(RESOURCES)} or objects.<type name> and action "
                          f"{', '.join(ACTIONS)}", f"permissions[{i}]")
        if entry not in seen:
            seen.append(entry)
    return seen


# -- roles -----------------------------------------------------------------------------------
def list_roles(db: Tx, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """Every role, built-in first, then by name."""
    state = _state(db)
    ordered = sorted(state["roles"].values(), key=lambda r: (not r["built_in"], r["name"]))
    return [out(r, state) for r in ordered]


def get_role(db: Tx, ctx: dict[str, Any], *, role_id: str) -> dict[str, Any]:
    state = _state(db)
    return out(_find(state, role_id), state)


def create_role(db: Tx, ctx: dict[str, Any], *, body: dict[str, Any]) -> dict[str, Any]:
    state = _state(db)
    ts = utcnow()
    rec = {"id": new_id("role"), "name": _name(state, body.get("name")),
           "description": _description(body.get("description")),
           "parent_role_id": _parent(state, body.get("parent_role_id")), "permissions": [],
           "built_in": False, "created_at": ts, "updated_at": ts}
    new_state = {**state, "roles": {**state["roles"], rec["id"]: rec}}
    _save(db, new_state, rec)
    record(db, ctx, "role.create", "role", rec["id"], {"name": rec["name"]})
    return out(rec, new_state)


def update_role(db: Tx, ctx: dict[str, Any], *, role_id: str,
                body: dict[str, Any]) -> dict[str, Any]:
    """Name, description and parent (null: none); a built-in role keeps its name."""
    state = _state(db)
    rec = dict(_find(state, role_id))
    if "name" in body and body["name"] != rec["name"]:
        if rec["built_in"]:
            raise invalid(f"the built-in role '{rec['name']}' cannot be renamed", "name")
        rec["name"] = _name(state, body["name"], rec["id"])
    if "description" in body:
        rec["description"] = _description(body["description"])
    if "parent_role_id" in body:
        rec["parent_role_id"] = _parent(state, body["parent_role_id"], rec["id"])
    rec["updated_at"] = utcnow()
    new_state = {**state, "roles": {**state["roles"], rec["id"]: rec}}
    _save(db, new_state, rec)
    record(db, ctx, "role.update", "role", rec["id"], {"fields": sorted(body)})
    return out(rec, new_state)


def delete_role(db: Tx, ctx: dict[str, Any], *, role_id: str, force: bool = False,
                confirm_token: str | None = None) -> dict[str, Any]:
    """Built-in roles never; a role assigned to users, parent of others or targeted by row-level
    policies: 409 with counts and a confirm token, then `force` removes the assignments and the
    policies and detaches the children."""
    state = _state(db)
    rec = _find(state, role_id)
    if rec["built_in"]:
        raise ApiError(Code.FORBIDDEN, f"the built-in role '{rec['name']}' cannot be deleted")
    holders = [u for u, ids in state["assign"].items() if rec["id"] in ids]
    children = [r for r in state["roles"].values() if r["parent_role_id"] == rec["id"]]
    confirm.require(db, f"role:{rec['id']}", [
        confirm.dependency("user_roles", len(holders), "users the role is assigned to"),
        confirm.dependency("roles", len(children), "roles inheriting from it (detached)"),
        confirm.dependency("policies", policies.naming_role(db, rec["id"]),
                           "row-level policies targeting it (deleted with it)")],
        force, confirm_token)
    policies.drop_role(db, rec["id"])
    roles = {k: v for k, v in state["roles"].items() if k != rec["id"]}
    ts = utcnow()
    for child in children:
        roles[child["id"]] = {**child, "parent_role_id": None, "updated_at": ts}
        db.update("roles", {**roles[child["id"]],
                            "permissions": json.dumps(child["permissions"])})
    assign = {u: tuple(i for i in ids if i != rec["id"]) for u, ids in state["assign"].items()}
    db.delete("user_roles", "role_id", rec["id"])
    db.delete("roles", "id", rec["id"])
    _save(db, {"roles": roles, "assign": {u: ids for u, ids in assign.items() if ids}})
    record(db, ctx, "role.delete", "role", rec["id"], {"name": rec["name"]})
    return {"id": rec["id"], "deleted": True}


def assign_permissions(db: Tx, ctx: dict[str, Any], *, role_id: str,
                       permissions: Any) -> dict[str, Any]:
    """Replace the role's own permissions (inherited ones are its parent's business)."""
    state = _state(db)
    rec = {**_find(state, role_id), "permissions": check_permissions(permissions),
           "updated_at": utcnow()}
    new_state = {**state, "roles": {**state["roles"], rec["id"]: rec}}
    _save(db, new_state, rec)
    record(db, ctx, "role.permissions", "role", rec["id"], {"permissions": rec["permissions"]})
    return out(rec, new_state)


# -- assignments -----------------------------------------------------------------------------
def assign_role(db: Tx, ctx: dict[str, Any], *, user_id: Any, role_id: Any) -> dict[str, Any]:
    """Assign a role to a user (again: no change). Built-in roles come with the session."""
    if not isinstance(user_id, str) or users.load_user(db, user_id) is None:
        raise ApiError(Code.NOT_FOUND, f"user '{user_id}' not found", field="user_id")
    state = _state(db)
    rec = _find(state, role_id, "role_id")
    if rec["built_in"]:
        kind = "anonymous" if rec["name"] == ANON else "signed-in"
        raise invalid(f"'{rec['name']}' is built in: every {kind} session has it", "role_id")
    held = state["assign"].get(user_id, ())
    if rec["id"] not in held:
        db.insert("user_roles", {"id": f"{user_id}:{rec['id']}", "user_id": user_id,
                                 "role_id": rec["id"], "created_at": utcnow()})
        _save(db, {**state, "assign": {**state["assign"], user_id: (*held, rec["id"])}})
        record(db, ctx, "role.assign", "role", rec["id"], {"user_id": user_id})
    return {"user_id": user_id, "role_id": rec["id"], "role": rec["name"], "assigned": True}


def remove_user_role(db: Tx, ctx: dict[str, Any], *, role_id: str,
                     user_id: str) -> dict[str, Any]:
    state = _state(db)
    rec = _find(state, role_id)
    held = state["assign"].get(user_id, ())
    if rec["id"] not in held:
        raise not_found("assignment of role to user", f"{rec['id']}/{user_id}")
    db.delete("user_roles", "id", f"{user_id}:{rec['id']}")
    rest = tuple(i for i in held if i != rec["id"])
    assign = {k: v for k, v in state["assign"].items() if k != user_id}
    _save(db, {**state, "assign": {**assign, **({user_id: rest} if rest else {})}})
    record(db, ctx, "role.unassign", "role", rec["id"], {"user_id": user_id})
    return {"user_id": user_id, "role_id": rec["id"], "removed": True}


def forget_user(db: Tx, user_id: str) -> None:
    """Drop a deleted user's assignments (inside the user's delete)."""
    state = _state(db)
    if user_id in state["assign"]:
        db.delete("user_roles", "user_id", user_id)
        _save(db, {**state, "assign": {k: v for k, v in state["assign"].items()
                                       if k != user_id}})


def _effective(state: dict[str, Any], user: dict[str, Any]) -> list[tuple[dict, str | None]]:
    """(role, the role it is inherited through or None), the user's roles in order."""
    base = ANON if user["is_anonymous"] else AUTHENTICATED
    direct = [r["id"] for r in state["roles"].values() if r["name"] == base]
    direct += list(state["assign"].get(user["id"], ()))
    found: dict[str, tuple[dict, str | None]] = {}
    for role_id in direct:
        for depth, role in enumerate(_chain(state, role_id)):
            if role["id"] not in found or (depth == 0 and found[role["id"]][1] is not None):
                found[role["id"]] = (role, None if depth == 0 else role_id)
    return list(found.values())


def list_user_roles(db: Tx, ctx: dict[str, Any], *, user_id: str) -> list[dict[str, Any]]:
    """The user's roles: its built-in one and assigned ones, then those inherited from them
    (`inherited: true`, `inherited_from`: the assigned role they come through)."""
    user = users.get_user_rec(db, user_id)
    state = _state(db)
    return [{**out(role, state), "inherited": via is not None, "inherited_from": via,
             "assigned": role["id"] in state["assign"].get(user_id, ())}
            for role, via in _effective(state, user)]


def user_access(db: Tx, user: dict[str, Any]) -> dict[str, Any]:
    """The role names and the union of permissions of a user (what its session may do), and
    what row-level policies may refer to as `$auth` (storage/policies.py): its email and
    claims (the app's claims about it, and its `user_metadata`, as in Supabase's JWT)."""
    pairs = _effective(_state(db), user)
    perms = sorted({p for role, _ in pairs for p in role["permissions"]})
    claims = {"sub": user["id"], "email": user["email"], "phone": user["phone"],
              "role": user["role"], "is_anonymous": bool(user["is_anonymous"]),
              "user_metadata": user["user_metadata"]}
    return {"roles": [role["name"] for role, _ in pairs], "permissions": perms,
            "email": user["email"], "claims": claims}


def allows(permissions: list[str] | frozenset[str], resource: str, action: str) -> bool:
    """Whether a permission set grants `action` on `resource` (`objects.<type>` is also granted
    by `objects`)."""
    wanted = [resource] + (["objects"] if resource.startswith("objects.") else [])
    return any(f"{r}:{a}" in permissions for r in wanted for a in (action, "*"))


def type_name(db: Tx, ctx: dict[str, Any], *, type_ref: str) -> str | None:
    """The name of an object type named by id or name, or None (the gateway's permission check)."""
    found = schema.load(db).type_named(type_ref)
    return None if found is None else found["name"]
