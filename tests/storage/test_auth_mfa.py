"""TOTP MFA rules on a real tenant database with a controlled auth clock (no Ray): codes from
pyotp at chosen instants, replay within the window, drift, ticket expiry, recovery codes, aal."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest

from storage.auth import common, mfa, passwords, signin
from storage.auth import keys as auth_keys
from tests.storage.conftest import CTX, call, count, error
from tests.storage.test_auth_signin import CLIENT, PASSWORD, log_in, sign_up, with_config

T0 = datetime(2026, 1, 5, 12, 0, 0)  # naive UTC, past (PyJWT refuses a future iat), on a step


@pytest.fixture(scope="module")
def pw_hash() -> str:
    return passwords.hash_password(PASSWORD)


class Clock:
    """The auth clock of every storage.auth module, moved by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.t, real = T0, common.now
        for name, module in list(sys.modules.items()):
            if name.startswith("storage.auth") and getattr(module, "now", None) is real:
                monkeypatch.setattr(module, "now", lambda: self.t)

    def move(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    return Clock(monkeypatch)


def code(secret: str, at: datetime, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(at.replace(tzinfo=UTC), counter_offset=steps)


def user_ctx(db, session: dict[str, Any], aal: int | None = None) -> dict[str, Any]:
    """The context of a request made with the session's access token."""
    claims = claims_of(db, session)
    return {**CTX, "user_id": claims["sub"], "session_id": claims["sid"],
            "aal": aal or claims["aal"]}


def claims_of(db, session: dict[str, Any]) -> dict[str, Any]:
    keys = call(db, auth_keys.verification_state)["keys"]
    return auth_keys.verify_access_token(session["access_token"], CTX["tenant_id"], keys,
                                         at=T0.replace(tzinfo=UTC).timestamp() + 60)


@pytest.fixture
def enrolled(tenant_db, pw_hash, clock) -> dict[str, Any]:
    """A user with a verified factor (verified with the code of T0) and their aal 2 session."""
    session = sign_up(tenant_db, pw_hash)["data"]
    factor = call(tenant_db, mfa.enroll_factor, user_ctx(tenant_db, session), friendly_name="Phone")
    assert factor["status"] == "unverified" and factor["totp"]["uri"].startswith("otpauth://")
    secret = factor["totp"]["secret"]
    done = call(tenant_db, mfa.verify_factor, user_ctx(tenant_db, session), factor_id=factor["id"],
                code=code(secret, clock.t))
    return {"secret": secret, "factor_id": factor["id"], "session": done,
            "codes": done["recovery_codes"]}


def ticket(db) -> str:
    answer = log_in(db)
    assert answer["mfa_required"] is True
    return answer["mfa_ticket"]


def test_verify_activates_hands_out_codes_and_raises_the_session(tenant_db, enrolled):
    done = enrolled["session"]
    assert done["verified"] is True and len(enrolled["codes"]) == 10
    assert len(set(enrolled["codes"])) == 10
    assert claims_of(tenant_db, done)["aal"] == 2
    assert count(tenant_db, "mfa_recovery_codes", "used_at IS NULL") == 10
    stored = [r[0] for r in tenant_db.conn.execute("SELECT id FROM mfa_recovery_codes").fetchall()]
    assert not set(enrolled["codes"]) & set(stored)  # hashed, never the codes
    listed = call(tenant_db, mfa.list_factors, user_ctx(tenant_db, done))
    assert [f["status"] for f in listed] == ["verified"] and "secret" not in listed[0]
    answer = log_in(tenant_db)
    assert answer["factors"][0]["id"] == enrolled["factor_id"]
    assert answer["mfa_ticket"].startswith(f"mfa.{CTX['tenant_id']}.")
    assert mfa.ticket_tenant(answer["mfa_ticket"]) == CTX["tenant_id"]


def test_a_code_works_once_and_steps_must_move_forward(tenant_db, enrolled, clock):
    secret, fid = enrolled["secret"], enrolled["factor_id"]
    replay = error(tenant_db, mfa.complete_mfa_login, mfa_ticket=ticket(tenant_db),
                   factor_id=fid, code=code(secret, T0))
    assert replay.details["field"] == "code"
    clock.move(30)
    t = ticket(tenant_db)
    done = call(tenant_db, mfa.complete_mfa_login, mfa_ticket=t, factor_id=fid,
                code=code(secret, clock.t), client=CLIENT)
    assert claims_of(tenant_db, done)["aal"] == 2 and done["user"]["email"] == "ada@example.com"
    # The next step's code (drift) is accepted once; then an older step's code is not.
    again = call(tenant_db, mfa.complete_mfa_login, mfa_ticket=ticket(tenant_db),
                 factor_id=fid, code=code(secret, clock.t, 1), client=CLIENT)
    assert again["access_token"]
    clock.move(30)
    older = error(tenant_db, mfa.complete_mfa_login, mfa_ticket=ticket(tenant_db),
                  factor_id=fid, code=code(secret, clock.t, -1))
    assert older.details["field"] == "code"


def test_codes_two_steps_away_are_refused(tenant_db, enrolled, clock):
    secret, fid = enrolled["secret"], enrolled["factor_id"]
    clock.move(120)
    for steps in (-2, 2):
        e = error(tenant_db, mfa.complete_mfa_login, mfa_ticket=ticket(tenant_db),
                  factor_id=fid, code=code(secret, clock.t, steps))
        assert e.details["field"] == "code"
    assert call(tenant_db, mfa.complete_mfa_login, mfa_ticket=ticket(tenant_db), factor_id=fid,
                code=code(secret, clock.t, -1))["access_token"]


def test_a_wrong_code_keeps_the_ticket_and_a_used_or_expired_ticket_is_refused(
        tenant_db, enrolled, clock):
    secret, fid = enrolled["secret"], enrolled["factor_id"]
    clock.move(30)
    t = ticket(tenant_db)
    good = code(secret, clock.t)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    assert error(tenant_db, mfa.complete_mfa_login, mfa_ticket=t, factor_id=fid,
                 code=wrong).details["field"] == "code"
    assert error(tenant_db, mfa.complete_mfa_login, mfa_ticket=t, factor_id=fid,
                 code="12ab56").details["field"] == "code"
    call(tenant_db, mfa.complete_mfa_login, mfa_ticket=t, factor_id=fid, code=good)
    clock.move(30)
    used = error(tenant_db, mfa.complete_mfa_login, mfa_ticket=t, factor_id=fid,
                 code=code(secret, clock.t))
    assert used.details["field"] == "mfa_ticket"
    late = ticket(tenant_db)
    clock.move(301)  # tickets live 5 minutes
    expired = error(tenant_db, mfa.complete_mfa_login, mfa_ticket=late, factor_id=fid,
                    code=code(secret, clock.t))
    assert expired.details["field"] == "mfa_ticket"
    assert error(tenant_db, mfa.ticket_user, mfa_ticket=late).details["field"] == "mfa_ticket"


def test_recovery_codes_are_single_use(tenant_db, enrolled):
    first, second = enrolled["codes"][:2]
    done = call(tenant_db, mfa.recover_mfa_login, mfa_ticket=ticket(tenant_db),
                recovery_code=first.upper().replace("-", " "), client=CLIENT)
    assert claims_of(tenant_db, done)["aal"] == 2 and done["recovery_codes_left"] == 9
    spent = error(tenant_db, mfa.recover_mfa_login, mfa_ticket=ticket(tenant_db),
                  recovery_code=first)
    assert spent.details["field"] == "recovery_code"
    again = call(tenant_db, mfa.recover_mfa_login, mfa_ticket=ticket(tenant_db),
                 recovery_code=second)
    assert again["recovery_codes_left"] == 8


def test_changing_factors_takes_aal_2(tenant_db, pw_hash, enrolled, clock):
    aal1 = user_ctx(tenant_db, sign_up(tenant_db, pw_hash, "bob@example.com")["data"])
    bob_factor = call(tenant_db, mfa.enroll_factor, aal1)
    # Ada signed in with only her password (an aal 1 session: magic link, older session, ...)
    ada = user_ctx(tenant_db, enrolled["session"], aal=1)
    assert error(tenant_db, mfa.enroll_factor, ada).code == "FORBIDDEN"
    assert error(tenant_db, mfa.unenroll_factor, ada,
                 factor_id=enrolled["factor_id"]).details["required_aal"] == 2
    assert error(tenant_db, mfa.unenroll_factor, ada,
                 factor_id=bob_factor["id"]).code == "NOT_FOUND"
    ada2 = user_ctx(tenant_db, enrolled["session"])
    second = call(tenant_db, mfa.enroll_factor, ada2, friendly_name="Tablet")
    assert call(tenant_db, mfa.unenroll_factor, ada2,
                factor_id=second["id"])["unenrolled"] is True
    assert count(tenant_db, "mfa_recovery_codes") == 10  # a verified factor is left
    call(tenant_db, mfa.unenroll_factor, ada2, factor_id=enrolled["factor_id"])
    assert count(tenant_db, "mfa_recovery_codes") == 0
    assert error(tenant_db, mfa.unenroll_factor, ada2,
                 factor_id=enrolled["factor_id"]).code == "NOT_FOUND"
    assert log_in(tenant_db)["access_token"]  # no factor: a plain session again


def test_step_up_raises_an_aal1_session(tenant_db, enrolled, clock):
    secret, fid = enrolled["secret"], enrolled["factor_id"]
    aal1 = call(tenant_db, signin.verify_magic_link, token=_magic_token(tenant_db))
    assert claims_of(tenant_db, aal1)["aal"] == 1
    clock.move(30)
    up = call(tenant_db, mfa.challenge_factor, user_ctx(tenant_db, aal1), factor_id=fid,
              code=code(secret, clock.t), user_id=claims_of(tenant_db, aal1)["sub"])
    assert up["verified"] is True and up["user_id"] == claims_of(tenant_db, aal1)["sub"]
    before, after = claims_of(tenant_db, aal1), claims_of(tenant_db, up)
    assert after["aal"] == 2 and after["sid"] == before["sid"]
    assert error(tenant_db, mfa.challenge_factor, user_ctx(tenant_db, aal1), factor_id=fid,
                 code=code(secret, clock.t, 1), user_id="usr_other").details["field"] == "user_id"


def _magic_token(db) -> str:
    mail = call(db, signin.send_magic_link, email="ada@example.com")["mail"]
    return mail["text"].split("token=")[1].split("&")[0]


def test_enrollment_off_refuses_enroll_and_verify(tenant_db, pw_hash, monkeypatch):
    session = sign_up(tenant_db, pw_hash)["data"]
    factor = call(tenant_db, mfa.enroll_factor, user_ctx(tenant_db, session))
    with_config(monkeypatch, mfa={"enabled": False})
    assert error(tenant_db, mfa.enroll_factor, user_ctx(tenant_db, session)).code == "FORBIDDEN"
    assert error(tenant_db, mfa.verify_factor, user_ctx(tenant_db, session), factor_id=factor["id"],
                 code="123456").code == "FORBIDDEN"
