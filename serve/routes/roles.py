"""Roles of end users and their assignment, the row-level policies of object types, and the
simulation of a policy: access control, managed with an API key with `auth` that is not
publishable (as the Users admin API); end users get 403."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from serve.auth import AuthAdminCtx
from serve.envelope import Listed
from storage import policies, roles

router = APIRouter(prefix="/v1/roles", tags=["Roles"])
users_router = APIRouter(prefix="/v1/users", tags=["Roles"])
policies_router = APIRouter(prefix="/v1/policies", tags=["Governance"])
type_policies_router = APIRouter(prefix="/v1/object-types/{object_type_id}/policies",
                                 tags=["Policies"])


class RoleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Any = None
    description: str | None = Field(None, max_length=1000)
    parent_role_id: str | None = Field(None, max_length=100)


class RoleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Any = None
    description: str | None = Field(None, max_length=1000)
    parent_role_id: str | None = Field(None, max_length=100)


class Permissions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    permissions: Any = None


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(max_length=100)
    role_id: str = Field(max_length=100)


class Policy(BaseModel):
    """A row-level policy; on update, the fields given replace the policy's."""
    model_config = ConfigDict(extra="forbid")
    name: Any = None
    action: Any = None
    role: Any = None
    condition_json: Any = None
    enabled: Any = None


class Simulation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: Any = None
    auth_context: Any = None
    sample_data: Any = None


@router.post("/assign", summary="Assign role to user")
async def assign_role(body: Assignment, ctx: AuthAdminCtx) -> Any:
    """Assign a role (by id or name) to a user; assigning it again changes nothing."""
    return await ctx.run(roles.assign_role, user_id=body.user_id, role_id=body.role_id)


@router.get("", summary="List roles", response_class=Listed)
async def list_roles(ctx: AuthAdminCtx) -> Any:
    return await ctx.read(roles.list_roles)


@router.post("", status_code=201, summary="Create role")
async def create_role(body: RoleCreate, ctx: AuthAdminCtx) -> Any:
    """A new role starts with no permissions; its name is unique in the tenant."""
    return await ctx.run(roles.create_role, body=body.model_dump())


@router.get("/{role_id}", summary="Get role")
async def get_role(role_id: str, ctx: AuthAdminCtx) -> Any:
    return await ctx.read(roles.get_role, role_id=role_id)


@router.patch("/{role_id}", summary="Update role")
async def update_role(role_id: str, body: RoleUpdate, ctx: AuthAdminCtx) -> Any:
    """Name, description, parent_role_id (null detaches; a cycle is 400)."""
    return await ctx.run(roles.update_role, role_id=role_id,
                         body=body.model_dump(exclude_unset=True))


@router.delete("/{role_id}", summary="Delete role")
async def delete_role(role_id: str, ctx: AuthAdminCtx, force: bool = False,
                      confirm_token: str | None = Query(None, max_length=200)) -> Any:
    """Built-in roles never; an assigned or inherited role: 409 with a confirm token first."""
    return await ctx.run(roles.delete_role, role_id=role_id, force=force,
                         confirm_token=confirm_token)


@router.post("/{role_id}/permissions", summary="Assign permissions to role")
async def assign_permissions(role_id: str, body: Permissions, ctx: AuthAdminCtx) -> Any:
    """Replace the role's own permissions (`<resource>:<action>` strings)."""
    return await ctx.run(roles.assign_permissions, role_id=role_id,
                         permissions=body.permissions)


@router.delete("/{role_id}/users/{user_id}", summary="Remove role from user")
async def remove_user_role(role_id: str, user_id: str, ctx: AuthAdminCtx) -> Any:
    return await ctx.run(roles.remove_user_role, role_id=role_id, user_id=user_id)


@users_router.get("/{user_id}/roles", summary="List user roles", response_class=Listed)
async def list_user_roles(user_id: str, ctx: AuthAdminCtx) -> Any:
    """The user's built-in and assigned roles, then inherited ones (`inherited: true`)."""
    return await ctx.read(roles.list_user_roles, user_id=user_id)


@policies_router.post("/simulate", summary="Simulate RLS policy")
async def simulate_policy(body: Simulation, ctx: AuthAdminCtx) -> Any:
    """Which sample rows a policy lets through, and why; nothing stored is read or written."""
    return policies.simulate(body.policy, body.auth_context, body.sample_data)


@type_policies_router.get("", summary="List access policies", response_class=Listed)
async def list_policies(object_type_id: str, ctx: AuthAdminCtx) -> Any:
    """The type's row-level policies, oldest first."""
    return await ctx.read(policies.list_policies, type_ref=object_type_id)


@type_policies_router.post("", status_code=201, summary="Create access policy")
async def create_policy(object_type_id: str, body: Policy, ctx: AuthAdminCtx) -> Any:
    """`{name, action: select|insert|update|delete|all, role (name or id; null: every role),
    condition_json, enabled}`; the condition is checked against the type's properties."""
    return await ctx.run(policies.create_policy, type_ref=object_type_id,
                         body=body.model_dump(exclude_unset=True))


@type_policies_router.patch("/{policy_id}", summary="Update access policy")
async def update_policy(object_type_id: str, policy_id: str, body: Policy,
                        ctx: AuthAdminCtx) -> Any:
    return await ctx.run(policies.update_policy, type_ref=object_type_id, policy_id=policy_id,
                         body=body.model_dump(exclude_unset=True))


@type_policies_router.delete("/{policy_id}", summary="Delete access policy")
async def delete_policy(object_type_id: str, policy_id: str, ctx: AuthAdminCtx) -> Any:
    return await ctx.run(policies.delete_policy, type_ref=object_type_id, policy_id=policy_id)
