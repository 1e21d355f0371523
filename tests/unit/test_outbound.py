"""The SSRF guard: addresses refused by literal, by resolution and at connect time."""

from __future__ import annotations

import socket

import httpx
import pytest

from storage import outbound
from storage.errors import ApiError
from tests.unit.loopback import http_server, json_answer

REFUSED = [
    "http://127.0.0.1/", "http://127.1/", "http://[::1]:8080/x", "http://localhost:8000/",
    "http://app.localhost/", "http://10.0.0.1/", "http://172.16.3.4/", "http://192.168.1.1/",
    "http://100.64.0.1/",  # shared address space (CGNAT)
    "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://[fd00:ec2::254]/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[2002:7f00:1::]/",
    "http://[64:ff9b::a00:1]/", "http://0.0.0.0/", "http://[::]/", "http://224.0.0.1/",
    "http://240.0.0.1/", "http://2130706433/", "http://0177.0.0.1/", "http://0x7f.0.0.1/",
    "http://017700000001/",
]
NOT_URLS = ["ftp://example.com/", "file:///etc/passwd", "gopher://x/", "javascript:alert(1)",
            "//example.com/x", "http:///x", "http://user:pw@93.184.215.14/", "", None, 7,
            "http://93.184.215.14:99999/"]


@pytest.mark.parametrize("url", REFUSED)
def test_private_and_special_addresses_are_refused(url):
    with pytest.raises(ApiError) as info:
        outbound.check_url(url, allow_private=False, field="oauth.acme.token_url")
    assert info.value.code == "VALIDATION_ERROR" and info.value.status == 400
    assert info.value.details["field"] == "oauth.acme.token_url"
    assert "oauth.acme.token_url" in info.value.message


@pytest.mark.parametrize("url", NOT_URLS)
def test_only_http_urls_without_credentials_pass(url):
    with pytest.raises(ApiError) as info:
        outbound.check_url(url, allow_private=True, field="verify_url")
    assert info.value.details["field"] == "verify_url"


def test_public_literals_pass_and_private_ones_when_the_operator_allows():
    assert outbound.check_url("https://93.184.215.14/a?b=1", False) == "https://93.184.215.14/a?b=1"
    assert outbound.check_url("http://[2606:4700::6810:84e5]:8443/", False)
    for url in ("http://127.0.0.1:9/", "http://10.1.2.3/", "http://[::1]/", "http://2130706433/"):
        assert outbound.check_url(url, allow_private=True) == url


@pytest.mark.parametrize("url", ["http://169.254.169.254/", "http://[fd00:ec2::254]/",
                                 "http://100.100.100.200/", "http://metadata.google.internal/",
                                 "http://[::ffff:169.254.169.254]/", "http://224.0.0.1/"])
def test_metadata_and_multicast_stay_refused_even_when_private_is_allowed(url):
    with pytest.raises(ApiError):
        outbound.check_url(url, allow_private=True)


async def test_fetch_checks_the_address_it_connects_to():
    with http_server(json_answer(200, {"ok": True})) as peer:
        with pytest.raises(ApiError) as info:
            await outbound.fetch("GET", peer["url"] + "/x", allow_private=False, field="hook")
        assert info.value.details["field"] == "hook" and peer["requests"] == []
        answer = await outbound.fetch("GET", peer["url"] + "/x", allow_private=True)
        assert answer.status_code == 200 and answer.json() == {"ok": True}


async def test_a_name_that_rebinds_to_loopback_is_refused_at_connect_time(monkeypatch):
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):  # public when checked, loopback when connecting
        if host == "rebind.example":
            rebinding.calls += 1
            ip = "93.184.215.14" if rebinding.calls == 1 else "127.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, 80))]
        return real(host, *args, **kwargs)

    rebinding.calls = 0
    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    assert outbound.check_url("http://rebind.example/", allow_private=False)
    with pytest.raises(ApiError) as info:
        await outbound.fetch("GET", "http://rebind.example/", allow_private=False)
    assert "127.0.0.1" in info.value.message


async def test_redirects_are_answered_not_followed():
    def answer(method, path, headers, body):
        if path == "/start":
            return 302, {"Location": "/secret"}, b""
        return 200, {}, b"secret"

    with http_server(answer) as peer:
        got = await outbound.fetch("GET", peer["url"] + "/start", allow_private=True)
        assert got.status_code == 302 and [r["path"] for r in peer["requests"]] == ["/start"]


async def test_long_answers_are_cut_off():
    with http_server(lambda *_: (200, {}, b"x" * 5000)) as peer:
        with pytest.raises(outbound.ResponseTooLarge):
            await outbound.fetch("GET", peer["url"], allow_private=True, max_bytes=1000)
        assert len((await outbound.fetch("GET", peer["url"], allow_private=True)).content) == 5000


async def test_the_guarded_client_serves_other_httpx_users():
    with http_server(json_answer(201, {"a": 1})) as peer:
        async with outbound.client(allow_private=True) as http:
            assert (await http.post(peer["url"], json={})).status_code == 201
        async with outbound.client(allow_private=False, field="jwks_url") as http:
            with pytest.raises(ApiError) as info:
                await http.get(peer["url"])
        assert info.value.details["field"] == "jwks_url"
    assert isinstance(outbound.transport(False), httpx.AsyncBaseTransport)
