"""Phone one-time codes on a real tenant database (no Ray): sign-in and sign-up, wrong tries,
expiry by the auth clock, single use, numbers `phonenumbers` deems possible."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from storage.auth import admin, common, otp, sessions, users
from tests.storage.conftest import call, error, sql
from tests.storage.test_auth_signin import with_config

PHONE = "+15550101234"  # a US 555-01xx test number


@pytest.fixture
def phone_on(monkeypatch) -> None:
    with_config(monkeypatch, phone={"enabled": True})


def send(db, phone: str = PHONE) -> str:
    """Ask for a code; the code the text carries."""
    sent = call(db, otp.send_otp, phone=phone)
    assert sent["data"] == {"message": otp.SENT} and sent["sms"]["to"] == phone
    code = re.search(r"\b(\d{6})\b", sent["sms"]["body"]).group(1)
    [(digest,)] = sql(db, "SELECT code_hash FROM otp_codes WHERE phone = ?", [phone])
    assert len(digest) == 64 and code not in digest  # stored hashed, never in clear
    return code


def verify(db, code: str, phone: str = PHONE) -> dict[str, Any]:
    return call(db, otp.verify_otp, phone=phone, code=code, client={"ip": "203.0.113.9"})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** 6:06d}"


def test_a_code_signs_in_the_user_with_that_phone(tenant_db, phone_on):
    made = call(tenant_db, admin.create_user,
                body={"email": "ph@example.com", "phone": "+1 (555) 010-1234"})
    assert made["phone"] == PHONE and made["phone_verified"] is False  # stored as E.164
    session = verify(tenant_db, send(tenant_db))
    assert session["user"]["id"] == made["id"] and session["user"]["phone_verified"] is True
    assert session["token_type"] == "bearer" and session["refresh_token"]
    [(method,)] = sql(tenant_db, "SELECT method FROM sessions WHERE id = ?",
                      [session["session_id"]])
    assert method == "otp"


def test_an_unknown_phone_becomes_a_new_user(tenant_db, phone_on):
    uk = "+447700900123"
    session = verify(tenant_db, send(tenant_db, uk), uk)
    user = session["user"]
    assert user["phone"] == uk and user["email"] is None
    assert user["phone_verified"] is True and user["is_anonymous"] is False
    again = verify(tenant_db, send(tenant_db, uk), uk)
    assert again["user"]["id"] == user["id"]


def test_codes_are_single_use_and_replaced_by_a_new_one(tenant_db, phone_on):
    code = send(tenant_db)
    verify(tenant_db, code)
    assert verify(tenant_db, code) == {"refused": otp.REFUSED}
    first = send(tenant_db)
    second = send(tenant_db)
    if first != second:
        assert verify(tenant_db, first) == {"refused": otp.REFUSED}
    assert verify(tenant_db, second)["access_token"]


def test_five_wrong_codes_spend_the_code(tenant_db, phone_on):
    code = send(tenant_db)
    for _ in range(otp.MAX_ATTEMPTS):
        assert verify(tenant_db, wrong(code)) == {"refused": otp.REFUSED}
    [(attempts,)] = sql(tenant_db, "SELECT attempts FROM otp_codes WHERE phone = ?", [PHONE])
    assert attempts == otp.MAX_ATTEMPTS
    assert verify(tenant_db, code) == {"refused": otp.REFUSED}  # the right one, too late
    assert verify(tenant_db, send(tenant_db))["access_token"]  # a new code works


def test_codes_expire_after_five_minutes(tenant_db, phone_on, monkeypatch):
    code = send(tenant_db)
    later = common.now() + timedelta(seconds=otp.TTL_S + 1)
    for module in (common, otp, sessions, users):
        monkeypatch.setattr(module, "now", lambda: later)
    assert verify(tenant_db, code) == {"refused": otp.REFUSED}


def test_bad_numbers_and_codes_are_400_naming_the_field(tenant_db, phone_on):
    for bad in ("5550101234", "+1555", "+1-800-FLOWERS", "+999123456789", "", None, 15550101234):
        assert error(tenant_db, otp.send_otp, phone=bad).details["field"] == "phone"
    for bad in ("12345", "abcdef", "1234567", None):
        got = error(tenant_db, otp.verify_otp, phone=PHONE, code=bad)
        assert got.details["field"] == "code"


def test_phone_sign_in_is_off_by_default(tenant_db):
    assert error(tenant_db, otp.send_otp, phone=PHONE).code == "FORBIDDEN"
    assert error(tenant_db, otp.verify_otp, phone=PHONE, code="123456").code == "FORBIDDEN"


def test_a_banned_users_phone_gets_no_text(tenant_db, phone_on):
    made = call(tenant_db, admin.create_user, body={"email": "b@example.com", "phone": PHONE})
    call(tenant_db, admin.update_user, user_id=made["id"], body={"banned": True})
    sent = call(tenant_db, otp.send_otp, phone=PHONE)
    assert sent == {"data": {"message": otp.SENT}, "sms": None}
