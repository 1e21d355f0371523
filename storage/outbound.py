"""The SSRF guard: every outbound URL a tenant configures (OAuth/OIDC endpoints, Turnstile's
verify URL, webhooks, AI providers, integrations) is fetched through here.

- `check_url` refuses what is not `http(s)://host[:port]/...` (no credentials in the URL) and any
  host resolving to a loopback, private, shared (CGNAT), link-local, multicast, reserved or
  unspecified address, unless the operator set `RAYBASE_ALLOW_PRIVATE_URLS=true`. IPv4 inside
  IPv6 (`::ffff:127.0.0.1`, 6to4, NAT64) is judged by the IPv4 address; numeric tricks
  (`http://2130706433/`, `0177.0.0.1`) are judged by what they resolve to.
- Cloud metadata addresses (169.254.169.254, fd00:ec2::254, 100.100.100.200 and their names) and
  multicast or unspecified addresses are refused even then: no operator wants tenants there.
- `transport`/`client`/`fetch` check again *at connect time*, on the very address the socket
  connects to (httpcore's network backend is wrapped), so a name that re-resolves to a private
  address after the check (DNS rebinding) is refused too. Redirects are never followed and
  proxies from the environment are ignored.

It lives in `storage/`, the layer every other imports (beside blobs.py's S3 client), so the
gateway (OAuth, Turnstile, webhook URLs when written) and the actors (webhook delivery) share it.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from storage.errors import ApiError, Code

TIMEOUT_S = 10.0  # each outbound call, whole
MAX_RESPONSE_BYTES = 1 << 20  # what `fetch` reads of an answer at most
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "metadata.azure.internal"})
METADATA_IPS = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ResponseTooLarge(httpx.TransportError):
    """The answer was longer than `fetch` reads."""


def _refused(field: str, why: str) -> ApiError:
    return ApiError(Code.VALIDATION_ERROR, f"{field} {why}", field=field)


def _embedded_v4(addr: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(addr, ipaddress.IPv4Address):
        return None
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def address_refusal(addr: IPAddress, allow_private: bool) -> str | None:
    """Why connecting to `addr` is refused, or None when it is allowed."""
    inner = _embedded_v4(addr)
    if inner is not None:
        return address_refusal(inner, allow_private)
    if addr in METADATA_IPS:
        return "is a cloud metadata address"
    if addr.is_multicast or addr.is_unspecified:
        return "is a multicast or unspecified address"
    if not allow_private and (not addr.is_global or addr.is_reserved or addr.is_link_local):
        return ("is a loopback, private, link-local or reserved address (the operator may "
                "allow them with RAYBASE_ALLOW_PRIVATE_URLS=true)")
    return None


def _parse(url: Any, field: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL without credentials, or 400 naming `field`."""
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise _refused(field, "must be an http(s) URL")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise _refused(field, "must be a valid http(s) URL") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise _refused(field, "must be an absolute http(s) URL")
    if "@" in parts.netloc:
        raise _refused(field, "must not carry credentials (user:password@)")
    return host.lower(), port or (443 if parts.scheme == "https" else 80)


def check_form(url: Any, field: str = "url") -> str:
    """The URL when it is an http(s) URL without credentials (no resolution: the form alone);
    else 400 naming `field`."""
    _parse(url, field)
    return url


def _name_refusal(host: str) -> str | None:
    name = host.rstrip(".")
    if name in METADATA_HOSTS:
        return "is a cloud metadata host"
    return None


def _check_addresses(host: str, addrs: list[str], allow_private: bool, field: str) -> None:
    if not addrs:
        raise _refused(field, f"host {host} does not resolve")
    for raw in addrs:
        why = address_refusal(ipaddress.ip_address(raw.split("%")[0]), allow_private)
        if why:
            raise _refused(field, f"host {host} resolves to {raw}, which {why}")


def _resolve(host: str, port: int, field: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise _refused(field, f"host {host} does not resolve") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url(url: Any, allow_private: bool, field: str = "url") -> str:
    """The URL when it is http(s) and every address its host resolves to may be reached; else
    400 VALIDATION_ERROR naming `field`. Blocking (it resolves the name): call it in a thread
    from async code, or use `fetch`, which checks at connect time anyway."""
    host, port = _parse(url, field)
    why = _name_refusal(host)
    if why:
        raise _refused(field, f"host {host} {why}")
    _check_addresses(host, _resolve(host, port, field), allow_private, field)
    return url


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, resolving each host itself and connecting only to an address
    the guard allows (the address checked is the address connected to)."""

    def __init__(self, allow_private: bool, field: str = "url") -> None:
        self.allow_private, self.field = allow_private, field
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        host = host.strip("[]").lower()
        why = _name_refusal(host)
        if why:
            raise _refused(self.field, f"host {host} {why}")
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                                 type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise _refused(self.field, f"host {host} does not resolve") from exc
        addrs = list(dict.fromkeys(str(info[4][0]) for info in infos))
        _check_addresses(host, addrs, self.allow_private, self.field)
        return await self.inner.connect_tcp(addrs[0], port, timeout, local_address,
                                            socket_options)

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        raise _refused(self.field, "must be an http(s) URL")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


@functools.cache
def _ssl_context() -> Any:
    """httpx's default TLS context, made once (loading the CA bundle costs milliseconds): an
    SSLContext is shared safely by any number of connections."""
    return httpx.create_ssl_context()


def transport(allow_private: bool, field: str = "url") -> httpx.AsyncHTTPTransport:
    """An httpx transport connecting only where the guard allows (for httpx-based clients such
    as authlib's: pass it as `transport=`)."""
    guarded = httpx.AsyncHTTPTransport(verify=_ssl_context(), trust_env=False)
    # httpx builds its pool without a way to pass a network backend: rebuild it with ours
    # (tests/unit/test_outbound.py fails if an httpx upgrade stops using it).
    guarded._pool = httpcore.AsyncConnectionPool(
        ssl_context=_ssl_context(), network_backend=GuardedBackend(allow_private,
                                                                               field))
    return guarded


def client(allow_private: bool, field: str = "url", **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client through the guard: no redirects followed, no proxies from the
    environment, TIMEOUT_S unless given."""
    kwargs.setdefault("timeout", TIMEOUT_S)
    return httpx.AsyncClient(transport=transport(allow_private, field), follow_redirects=False,
                             trust_env=False, **kwargs)


async def fetch(method: str, url: str, *, allow_private: bool, field: str = "url",
                max_bytes: int = MAX_RESPONSE_BYTES, **kwargs: Any) -> httpx.Response:
    """One request through the guard, its answer read whole (at most `max_bytes`, else
    ResponseTooLarge). 400 naming `field` when the URL or its address is refused; network
    failures raise httpx.HTTPError. A 3xx is answered as is, never followed."""
    _parse(url, field)
    async with client(allow_private, field) as http, http.stream(method, url, **kwargs) as answer:
        body = bytearray()
        async for chunk in answer.aiter_bytes():  # decoded: a compressed bomb is capped too
            body += chunk
            if len(body) > max_bytes:
                raise ResponseTooLarge(f"{field}: the answer is longer than {max_bytes} bytes")
        headers = [(k, v) for k, v in answer.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        return httpx.Response(answer.status_code, headers=headers, content=bytes(body),
                              request=answer.request)
