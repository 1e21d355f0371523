"""End users' permissions on the routes they reach (objects, search, associations, comments,
files): the dependencies `ObjectsReadCtx`, `FilesCreateCtx`, ... authenticate as their scope
does and then, for an end user, check its roles' permissions (storage/roles.py), 403
`INSUFFICIENT_PERMISSION` naming the one missing (`objects.contacts:read`). API keys are ruled by
their scopes only.

A user's permissions come with its session's status (serve/user_tokens.py), cached per replica
for `key_cache_ttl` seconds, so a role or permission change takes effect everywhere within that
time. A per-type check needs the type's name: it is asked of the shard only when no blanket
`objects:<action>` grants the action, and cached for the same time.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from serve.auth import Caller, require, require_any
from storage import roles
from storage.errors import ApiError, Code

Need = tuple[str, str, str | None]  # (resource, action, path parameter naming the type or None)


async def _type_name(request: Request, caller: Caller, ref: str) -> str | None:
    """The name of the type `ref` (an id or a name), or None when there is no such type."""
    cache = request.app.state.user_tokens.type_names
    key = (caller.tenant_id, ref)
    name = await cache.get(key, lambda: caller.read(roles.type_name, type_ref=ref))
    if name is None:  # made since it was cached (rarely): look again
        name = await cache.get(key, lambda: caller.read(roles.type_name, type_ref=ref),
                               fresher_than=0)
    return name


async def check(request: Request, caller: Caller, resource: str, action: str,
                type_ref: str | None = None) -> None:
    """403 unless the caller (an end user) may do `action` on `resource` (`objects` with a
    `type_ref`: that type); API keys always pass."""
    perms = caller.permissions
    if caller.user_id is None or perms is None or roles.allows(perms, resource, action):
        return
    if resource == "objects" and type_ref is not None:
        name = await _type_name(request, caller, type_ref)
        if name is None:
            return  # no such type: the store answers 404
        resource = f"objects.{name}"
        if roles.allows(perms, resource, action):
            return
    wanted = f"{resource}:{action}"
    raise ApiError(Code.INSUFFICIENT_PERMISSION, f"your roles ({', '.join(caller.roles or [])}) "
                   f"lack the permission {wanted}", permission=wanted)


def permit(base, *needs: Need):
    """A dependency: `base`'s caller, holding every permission of `needs`."""

    async def dependency(request: Request) -> Caller:
        caller = await base(request)
        for resource, action, param in needs:
            ref = request.path_params.get(param) if param else None
            await check(request, caller, resource, action, ref)
        return caller

    return dependency


_read, _write = require("read", users=True), require("write", users=True)
_files_read = require_any("files", "read", users=True)
_files_write = require_any("files", "write", users=True)
T = "object_type_id"


def _objects(base, action: str, param: str = T):
    return Annotated[Caller, Depends(permit(base, ("objects", action, param)))]


ObjectsReadCtx = _objects(_read, "read")
ObjectsCreateCtx = _objects(_write, "create")
ObjectsUpdateCtx = _objects(_write, "update")
ObjectsDeleteCtx = _objects(_write, "delete")
# Associations: listing reads the type; linking and unlinking change the far side's links too.
AssocReadCtx = _objects(_read, "read", "type")
AssocWriteCtx = Annotated[Caller, Depends(permit(
    _write, ("objects", "update", "from_type"), ("objects", "read", "to_type")))]
# Comments: the comment permission, and reading the object they are on.
CommentsReadCtx = Annotated[Caller, Depends(permit(
    _read, ("comments", "read", None), ("objects", "read", T)))]
CommentsCreateCtx = Annotated[Caller, Depends(permit(
    _write, ("comments", "create", None), ("objects", "read", T)))]
CommentsUpdateCtx = Annotated[Caller, Depends(permit(
    _write, ("comments", "update", None), ("objects", "read", T)))]
CommentsDeleteCtx = Annotated[Caller, Depends(permit(
    _write, ("comments", "delete", None), ("objects", "read", T)))]
FilesReadCtx = Annotated[Caller, Depends(permit(_files_read, ("files", "read", None)))]
FilesCreateCtx = Annotated[Caller, Depends(permit(_files_write, ("files", "create", None)))]
FilesUpdateCtx = Annotated[Caller, Depends(permit(_files_write, ("files", "update", None)))]
FilesDeleteCtx = Annotated[Caller, Depends(permit(_files_write, ("files", "delete", None)))]
