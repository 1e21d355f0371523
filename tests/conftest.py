"""Shared fixtures: one small Ray and one raybase Serve app per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ADMIN_KEY = "test-admin-key"
STRIPE_SECRET = "whsec_test_raybase"  # the session's Stripe webhook signing secret


def free_port() -> int:
    from serve.runtime import free_port as pick

    return pick()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict]:
    """A moto S3 server on a free loopback port for the whole session: the endpoint and keys
    an `S3BlobStore` (or the service, blob_backend=s3) uses."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield {"endpoint": f"127.0.0.1:{port}", "access_key": "test", "secret_key": "test",
           "region": "us-east-1", "secure": False}
    server.stop()


class Mailbox:
    """What a loopback SMTP server received (aiosmtpd), for tests to follow links in mail."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes, policy

        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def to(self, address: str) -> list[Any]:
        return [m for m in self.messages if address.lower() in str(m["To"]).lower()]


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[dict]:
    """A real SMTP server (aiosmtpd) on a free loopback port for the whole session: the service
    sends its auth emails there."""
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield {"url": f"smtp://127.0.0.1:{controller.port}", "mailbox": mailbox}
    controller.stop()


class Texts:
    """What a loopback SMS endpoint received (`POST {"to", "body"}`), for tests to read codes."""

    def __init__(self, requests: list[dict[str, Any]]) -> None:
        self.requests = requests

    def to(self, phone: str) -> list[dict[str, Any]]:
        import json

        sent = [json.loads(r["body"]) for r in self.requests if r["method"] == "POST"]
        return [m for m in sent if m.get("to") == phone]


@pytest.fixture(scope="session")
def sms_server() -> Iterator[dict]:
    """A real HTTP endpoint on a free loopback port for the whole session: the service posts its
    SMS there (RAYBASE_SMS_URL)."""
    from tests.unit.loopback import http_server, json_answer

    with http_server(json_answer(200, {"queued": True})) as peer:
        yield {"url": peer["url"] + "/sms", "texts": Texts(peer["requests"])}


@pytest.fixture(scope="session")
def ray_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A small local Ray on loopback for the whole session (started once, stopped at the end),
    with free HAProxy ports and its own run directory (named after a fresh data dir)."""
    from serve.runtime import ray_environment
    from serve.settings import Settings

    settings = Settings(proxy=os.environ.get("RAYBASE_TEST_PROXY", "haproxy"), ray_num_cpus=2,
                        ray_object_store_mb=80, data_dir=str(tmp_path_factory.mktemp("ray")))
    for k, v in ray_environment(settings).items():
        os.environ[k] = v
    import ray

    from serve.runtime import start_ray

    start_ray(settings)
    yield
    ray.shutdown()  # ends Serve and every host with it (serve.shutdown alone takes ~30 s here)


@pytest.fixture(scope="session")
def service(ray_session: None, s3_server: dict, smtp_server: dict, sms_server: dict,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """raybase deployed on Serve at a free loopback port, with the admin API on, blobs (files,
    exports) in a bucket of the session's moto S3 server, auth email and SMS sent to the
    session's loopback SMTP server and SMS endpoint, tenant-configured outbound URLs
    allowed to reach loopback peers (RAYBASE_ALLOW_PRIVATE_URLS=true), a short webhook
    retry schedule (3 attempts, 0.2 s then 0.8 s apart), and realtime sockets closed after 6 s
    of silence (so the idle close is observed quickly)."""
    from serve.runtime import deploy
    from serve.settings import Settings

    data_dir: Path = tmp_path_factory.mktemp("raybase-data")
    settings = Settings(port=free_port(), data_dir=str(data_dir), admin_key=ADMIN_KEY,
                        proxy=os.environ.get("RAYBASE_TEST_PROXY", "haproxy"),
                        key_cache_ttl=1.0, shard_hosts=2, file_quota_bytes=30 << 20,
                        blob_backend="s3", s3_endpoint=s3_server["endpoint"],
                        s3_access_key=s3_server["access_key"],
                        s3_secret_key=s3_server["secret_key"], s3_bucket="raybase-test",
                        s3_region=s3_server["region"], s3_secure=False,
                        smtp_url=smtp_server["url"], sms_url=sms_server["url"],
                        allow_private_urls=True, webhook_max_attempts=3,
                        webhook_retry_base_s=0.2, realtime_idle_timeout=6.0,
                        stripe_webhook_secret=STRIPE_SECRET)
    deploy(settings)
    yield {"base_url": f"http://127.0.0.1:{settings.port}", "settings": settings,
           "data_dir": data_dir, "mailbox": smtp_server["mailbox"],
           "texts": sms_server["texts"]}


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[Any]:
    """A real OpenID Connect provider on a loopback port (tests/api/oidc_provider.py) for the
    whole session; each test registers its own client."""
    from tests.api.oidc_provider import running_provider

    with running_provider() as provider:
        yield provider
