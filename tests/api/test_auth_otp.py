"""Phone one-time codes end to end: real HTTP, and a real SMS endpoint on loopback (the session's
RAYBASE_SMS_URL) whose received texts the tests read the codes from. Expiry is checked with the
auth clock in tests/storage/test_auth_otp.py (the shard's clock is not the test's)."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.api.conftest import Tenant, err, ok
from tests.api.test_auth_flows import auth_key, uniq

_numbers = iter(range(10 ** 6))


def new_phone() -> str:
    """A fresh US 555 test number (possible, never assigned), unique in the session."""
    return f"+1555{(time.monotonic_ns() // 1000 + next(_numbers)) % 10 ** 7:07d}"


def phone_on(tenant: Tenant) -> None:
    ok(tenant.call("PATCH", "/v1/auth-config", json={"phone": {"enabled": True}}))


def sms_code(texts: Any, phone: str, seen: int = 0) -> str:
    """The code of the newest text to `phone` once more than `seen` have arrived (waits)."""
    deadline = time.monotonic() + 10
    while len(texts.to(phone)) <= seen and time.monotonic() < deadline:
        time.sleep(0.05)
    got = texts.to(phone)
    assert len(got) > seen, f"no SMS to {phone}"
    return re.search(r"\b(\d{6})\b", got[-1]["body"]).group(1)


def send(tenant: Tenant, key: str, phone: str, path: str = "/v1/auth/otp/send") -> dict:
    return ok(tenant.call("POST", path, key, json={"phone": phone}))


def verify(tenant: Tenant, key: str, phone: str, code: str):
    return tenant.call("POST", "/v1/auth/otp/verify", key, json={"phone": phone, "code": code})


def test_a_code_signs_in_the_user_with_that_phone(tenant, texts):
    phone_on(tenant)
    key, phone = auth_key(tenant), new_phone()
    made = ok(tenant.call("POST", "/v1/users", json={"email": uniq("ph"), "phone": phone}), 201)
    assert made["phone_verified"] is False
    send(tenant, key, phone)
    session = ok(verify(tenant, key, phone, sms_code(texts, phone)))
    assert session["token_type"] == "bearer" and session["refresh_token"]
    assert session["user"]["id"] == made["id"] and session["user"]["phone_verified"] is True
    me = ok(tenant.call("GET", "/v1/auth/user", session["access_token"]))
    assert me["id"] == made["id"] and me["phone"] == phone


def test_an_unknown_phone_signs_up_and_codes_are_single_use(tenant, texts):
    phone_on(tenant)
    key, phone = auth_key(tenant), new_phone()
    send(tenant, key, phone)
    code = sms_code(texts, phone)
    user = ok(verify(tenant, key, phone, code))["user"]
    assert user["phone"] == phone and user["email"] is None and user["phone_verified"]
    assert err(verify(tenant, key, phone, code), 400, "VALIDATION_ERROR")["field"] == "code"
    send(tenant, key, phone)
    again = ok(verify(tenant, key, phone, sms_code(texts, phone, seen=1)))
    assert again["user"]["id"] == user["id"]  # the same user signs in
    listed = ok(tenant.call("GET", "/v1/users", params={"limit": 100}))["users"]
    assert [u["id"] for u in listed if u["phone"] == phone] == [user["id"]]


def test_five_wrong_codes_spend_the_code(tenant, texts):
    phone_on(tenant)
    key, phone = auth_key(tenant), new_phone()
    send(tenant, key, phone)
    code = sms_code(texts, phone)
    wrong = f"{(int(code) + 1) % 10 ** 6:06d}"
    for _ in range(5):
        assert err(verify(tenant, key, phone, wrong), 400, "VALIDATION_ERROR")["field"] == "code"
    err(verify(tenant, key, phone, code), 400, "VALIDATION_ERROR")  # right, but too late


def test_send_answers_the_same_for_any_number_and_refuses_bad_ones(tenant, texts):
    key, phone = auth_key(tenant), new_phone()
    err(tenant.call("POST", "/v1/auth/otp/send", key, json={"phone": phone}), 403, "FORBIDDEN")
    phone_on(tenant)
    banned = new_phone()
    user = ok(tenant.call("POST", "/v1/users", json={"email": uniq("bn"), "phone": banned}), 201)
    ok(tenant.call("PATCH", f"/v1/users/{user['id']}", json={"banned": True}))
    assert send(tenant, key, phone) == send(tenant, key, banned)
    sms_code(texts, phone)
    time.sleep(0.3)
    assert texts.to(banned) == []  # a banned user's phone gets no text
    for bad in ("5550101234", "+1555", "+1-800-FLOWERS", "+999123456789", ""):
        for path, body in (("/v1/auth/otp/send", {"phone": bad}),
                           ("/v1/auth/otp/verify", {"phone": bad, "code": "123456"})):
            got = err(tenant.call("POST", path, key, json=body), 400, "VALIDATION_ERROR")
            assert got["field"] == "phone", (bad, got)
    got = err(verify(tenant, key, phone, "12ab56"), 400, "VALIDATION_ERROR")
    assert got["field"] == "code"


def test_texts_are_limited_per_phone(tenant, texts):
    phone_on(tenant)
    key, phone = auth_key(tenant), new_phone()
    for _ in range(3):
        send(tenant, key, phone)
    r = tenant.call("POST", "/v1/auth/otp/send", key, json={"phone": phone})
    err(r, 429, "RATE_LIMITED")
    assert float(r.headers["retry-after"]) > 0
    send(tenant, key, new_phone())  # another number still gets its code
