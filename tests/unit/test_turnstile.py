"""Turnstile verification against a real HTTP verifier on loopback."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from serve.settings import Settings
from serve.turnstile import check_request, verify_turnstile
from storage.errors import ApiError
from tests.unit.loopback import http_server, json_answer


def config(url: str, enabled: bool = True) -> dict:
    return {"turnstile": {"enabled": enabled, "secret": "sk_turn", "verify_url": url}}


def verifier(method, path, headers, body):
    form = parse_qs(body.decode())
    ok = form.get("response") == ["good-token"] and form.get("secret") == ["sk_turn"]
    return json_answer(200, {"success": ok, "error-codes": [] if ok else
                             ["invalid-input-response"]})(method, path, headers, body)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=str(tmp_path), allow_private_urls=True)


async def test_a_good_token_passes_and_the_verifier_gets_secret_token_and_ip(settings):
    with http_server(verifier) as peer:
        await verify_turnstile(settings, config(peer["url"] + "/siteverify"), "good-token",
                               "203.0.113.9")
        sent = parse_qs(peer["requests"][0]["body"].decode())
    assert peer["requests"][0]["path"] == "/siteverify"
    assert sent == {"secret": ["sk_turn"], "response": ["good-token"],
                    "remoteip": ["203.0.113.9"]}


@pytest.mark.parametrize("token", [None, "", "  ", 12, "bad-token"])
async def test_missing_or_refused_tokens_are_400(settings, token):
    with http_server(verifier) as peer:
        with pytest.raises(ApiError) as info:
            await verify_turnstile(settings, config(peer["url"]), token, None)
    assert info.value.status == 400 and info.value.details["field"] == "turnstile_token"


async def test_off_by_default_and_nothing_is_sent(settings):
    with http_server(verifier) as peer:
        await verify_turnstile(settings, config(peer["url"], enabled=False), None, None)
        await verify_turnstile(settings, {}, None, None)
        assert peer["requests"] == []


async def test_a_private_verifier_needs_the_operator_and_a_dead_one_fails_closed(tmp_path):
    with http_server(verifier) as peer:
        strict = Settings(data_dir=str(tmp_path))
        with pytest.raises(ApiError) as info:
            await verify_turnstile(strict, config(peer["url"]), "good-token", None)
        assert info.value.details["field"] == "turnstile.verify_url" and not peer["requests"]
        dead = peer["url"]
    with pytest.raises(ApiError) as info:
        await verify_turnstile(Settings(data_dir=str(tmp_path), allow_private_urls=True),
                               config(dead), "good-token", None)
    assert info.value.status == 503 and info.value.details["retry_after"]


async def test_a_verifier_answering_garbage_is_a_refusal(settings):
    with http_server(lambda *_: (200, {}, b"[1, 2]")) as peer:
        with pytest.raises(ApiError) as info:
            await verify_turnstile(settings, config(peer["url"]), "good-token", None)
    assert info.value.status == 400


class FakeCaller:
    """What check_request uses of a serve.auth.Caller: the tenant, the client IP, a shard read."""

    def __init__(self, section: dict) -> None:
        self.tenant_id, self.ip, self.section, self.reads = f"tn_{id(self)}", "198.51.100.4", \
            section, 0

    async def read(self, fn, **kwargs):
        self.reads += 1
        return self.section


async def test_check_request_reads_the_tenants_settings_once_per_ttl(tmp_path):
    settings = Settings(data_dir=str(tmp_path), allow_private_urls=True, key_cache_ttl=60)
    with http_server(verifier) as peer:
        caller = FakeCaller(config(peer["url"])["turnstile"])
        await check_request(caller, settings, "good-token")
        with pytest.raises(ApiError):
            await check_request(caller, settings, None)
        assert caller.reads == 1 and len(peer["requests"]) == 1
        assert parse_qs(peer["requests"][0]["body"].decode())["remoteip"] == ["198.51.100.4"]
    off = FakeCaller({"enabled": False})
    await check_request(off, settings, None)
