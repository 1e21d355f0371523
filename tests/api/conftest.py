"""HTTP fixtures: a client on the session's raybase and a fresh tenant per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_KEY

pytestmark = pytest.mark.ray


@dataclass
class Tenant:
    id: str
    key: str
    client: httpx.Client
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.headers = {"Authorization": f"Bearer {self.key}"}

    def call(self, method: str, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
        """A request as this tenant (its `*` key unless another token is given)."""
        headers = {"Authorization": f"Bearer {key or self.key}", **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)

    def new_key(self, scopes: list[str], **body: Any) -> str:
        r = self.call("POST", "/v1/keys", json={"scopes": scopes, **body})
        assert r.status_code == 201, r.text
        return r.json()["data"]["token"]


@pytest.fixture(scope="session")
def client(service: dict) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service["base_url"], timeout=30) as c:
        yield c


@pytest.fixture
def mailbox(service: dict) -> Any:
    """What the session's SMTP server received (tests.conftest.Mailbox)."""
    return service["mailbox"]


@pytest.fixture
def texts(service: dict) -> Any:
    """What the session's SMS endpoint received (tests.conftest.Texts)."""
    return service["texts"]


@pytest.fixture(scope="session")
def admin_headers() -> dict[str, str]:
    return {"X-Admin-Key": ADMIN_KEY}


def create_tenant(client: httpx.Client, name: str = "Test tenant", **body: Any) -> Tenant:
    r = client.post("/admin/v1/tenants", json={"name": name, **body},
                    headers={"X-Admin-Key": ADMIN_KEY})
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    return Tenant(data["tenant_id"], data["api_key"], client)


@pytest.fixture
def tenant(client: httpx.Client) -> Tenant:
    """A fresh tenant with a `*` key: cheap, isolated, no teardown."""
    return create_tenant(client)


def ok(r: httpx.Response, status: int = 200) -> Any:
    """The data of a successful envelope, after checking status and envelope shape."""
    assert r.status_code == status, f"{r.status_code}: {r.text}"
    body = r.json()
    assert body["success"] is True and body["request_id"]
    assert r.headers["x-request-id"] == body["request_id"]
    return body["data"]


def err(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error of a failed envelope, after checking status, code and shape."""
    assert r.status_code == status, f"{r.status_code}: {r.text}"
    body = r.json()
    assert body["success"] is False and body["error"]["code"] == code, body
    assert body["error"]["message"]
    assert r.headers["x-request-id"] == body["request_id"]
    return body["error"]
