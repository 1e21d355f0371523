"""Auth attempt limits: per account and per client address, scaled by the operator's
`auth_limit_factor`, on the real rate-limit durable objects (in-process kernel)."""

from __future__ import annotations

import asyncio

import pytest

from actors.durable import LocalNamespace
from serve.auth import Caller
from serve.routes.auth.support import LIMITS, limit
from serve.services import Services
from serve.settings import Settings
from storage.errors import ApiError, Code


def _caller(tmp_path, factor: float, ip: str = "10.0.0.1",
            services: Services | None = None) -> Caller:
    services = services or Services(Settings(data_dir=str(tmp_path), auth_limit_factor=factor),
                                    LocalNamespace)
    return Caller("tn_1", "public", ["auth"], "free", services.shard("tn_1"), services,
                  "req_1", ip)


def _allowed(ctx: Caller, kind: str, account: str | None, tries: int) -> int:
    async def run() -> int:
        for n in range(tries):
            try:
                await limit(ctx, kind, account)
            except ApiError as exc:
                assert exc.code is Code.RATE_LIMITED and exc.details["retry_after"] > 0
                return n
        return tries

    return asyncio.run(run())


@pytest.mark.parametrize("factor", [1, 3, 0.5])
def test_an_account_gets_its_minute_budget_times_the_factor(tmp_path, factor):
    per_account = LIMITS["sign_in"][0]
    ctx = _caller(tmp_path, factor)
    assert _allowed(ctx, "sign_in", "Ann@Example.com", 100) == round(per_account * factor)


def test_the_address_budget_scales_too_and_is_the_address_own(tmp_path):
    per_ip = LIMITS["sign_up"][1]
    ctx = _caller(tmp_path, 2)
    assert _allowed(ctx, "sign_up", None, 200) == per_ip * 2
    assert _allowed(ctx, "sign_up", None, 1) == 0  # spent
    other = _caller(tmp_path, 2, "10.0.0.2", ctx.services)
    assert _allowed(other, "sign_up", None, 1) == 1


def test_the_factor_must_be_positive():
    with pytest.raises(ValueError):
        Settings(auth_limit_factor=0)
