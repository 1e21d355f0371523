"""End-user auth benchmark: logins per second, and object GETs with an end user's access token
(a JWT) next to the same GETs with an API key.

    python -m benchmarks.auth --start --concurrency 32 --duration 20

It runs the load harness (benchmarks.load) with scenario `auth`: the `objects` type and seed,
`--users` end users with passwords made through the Users admin API, then the phases
- `get`: `GET /v1/objects/:type/:id` with the tenant's API key;
- `get-jwt`: the same GETs with 32 users' access tokens in turn (HS256 verification; each
  session's status is read from the shard once per replica per key-cache TTL, 2 s, so here
  almost always cached);
- `get-jwt-many`: the same with every user's token (400: at these rates a session comes back
  after its cached status expired, so most requests also read it from the shard);
- `login`: `POST /v1/auth/login` with a publishable (`auth`) key, the users in turn (argon2id
  verification in the gateway, then the shard issues a session).
The issue's target: token verification costs at most 10% of a GET (get-jwt ≥ 0.9 × get).

Log-in is limited per account (10 a minute) and per client address (60): a login phase from
one address would measure the limiter. So this benchmark uses the default proxy and trusts
X-Forwarded-For (`RAYBASE_TRUST_FORWARDED_FOR=true`, set here for the private raybase) and gives
each login request an address of its own; with more users than the phase can reach ten times a
minute, no bucket runs dry. `--proxy haproxy` (whose X-Forwarded-For ends with the address it
saw) runs the two GET phases only, with 50 users. `--start` only: it never touches a running
raybase.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from benchmarks import load
from benchmarks.load import ObjectsScenario, Req, _check

USERS = 400  # end users signed in; more than a 20 s login phase can use ten times a minute
HAPROXY_USERS = 50  # behind HAProxy: under the 60 logins a minute of one client address
# get-jwt: this many sessions in turn, each back well within the gateway's session-status cache
# (RAYBASE_KEY_CACHE_TTL, 2 s); get-jwt-many: every user's, most back after it expired.
FEW_SESSIONS = 32
PASSWORD = "benchmark password 1"


class AuthScenario(ObjectsScenario):
    """Objects, plus end users and their access tokens."""

    NAME = "authbench"
    PHASES = ("get", "get-jwt", "get-jwt-many", "login")
    SEED = 1000
    users = USERS

    def setup(self) -> dict[str, Any]:
        info = super().setup()
        c = self.client
        key = _check(c.post("/v1/keys", json={"label": "publishable", "scopes": ["auth"]}),
                     "create auth key")
        self.publishable = {"Authorization": f"Bearer {key['token']}"}
        self.emails = [f"bench{i}@example.com" for i in range(self.users)]
        for email in self.emails:
            _check(c.post("/v1/users", json={"email": email, "password": PASSWORD}), "user")
        self.tokens = []
        for i, email in enumerate(self.emails):
            session = _check(c.post("/v1/auth/login", headers={
                **self.publishable, "X-Forwarded-For": _address(10 ** 6 + i)},
                json={"email": email, "password": PASSWORD}), "log in")
            self.tokens.append(session["access_token"])
        return {**info, "users": len(self.emails)}

    def requests(self, phase: str) -> list[Req]:
        base = f"/v1/objects/{self.type_id}"
        if phase in ("get-jwt", "get-jwt-many"):
            tokens = self.tokens[:FEW_SESSIONS] if phase == "get-jwt" else self.tokens
            return [Req("GET", f"{base}/{oid}",
                        headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"})
                    for i, oid in enumerate(self.ids)]
        if phase == "login":
            return [Req("POST", "/v1/auth/login",
                        {"email": self.emails[i % len(self.emails)], "password": PASSWORD},
                        {**self.publishable, "X-Forwarded-For": _address(i)})
                    for i in range(4 * len(self.emails))]
        return super().requests(phase)

    def cleanup(self) -> None:
        super().cleanup()  # the users go with the private raybase (--start only)


def _address(i: int) -> str:
    """A distinct private address (10.x.y.z) for the i-th request."""
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--start" not in args:
        print("benchmarks.auth runs with --start only (it trusts X-Forwarded-For)",
              file=sys.stderr)
        return 2
    os.environ["RAYBASE_TRUST_FORWARDED_FOR"] = "true"
    load.SCENARIOS["auth"] = AuthScenario
    if "--scenario" not in args:
        args += ["--scenario", "auth"]
    if "--proxy" not in args:
        args += ["--proxy", "default"]  # HAProxy appends the address it saw: no per-request one
    elif args[args.index("--proxy") + 1:][:1] == ["haproxy"]:
        # One client address: 60 logins a minute in all, so fewer users, signed in at setup,
        # and the GET phases only.
        AuthScenario.users = HAPROXY_USERS
        if "--phases" not in args:
            args += ["--phases", "get,get-jwt"]
    return load.main(args)


if __name__ == "__main__":
    sys.exit(main())
