"""Password hashing (argon2id) and password rules.

Hashing costs tens of milliseconds of CPU on purpose: the gateway does it (`hash_password`,
`verify_password`, in a thread), never the tenant shard, whose calls run one at a time. The
shard checks the rules and stores the hash."""

from __future__ import annotations

import functools
import string
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from storage.errors import invalid

# argon2id, OWASP's recommended minimum: 19 MiB of memory, 2 passes, 1 lane (~20-50 ms here).
TIME_COST, MEMORY_COST_KIB, PARALLELISM = 2, 19_456, 1
MAX_LENGTH = 1024  # argon2 takes any length; a cap keeps a request from hashing megabytes
HASHER = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB,
                        parallelism=PARALLELISM)


def hash_password(password: str) -> str:
    return HASHER.hash(password)


@functools.cache
def _dummy_hash() -> str:
    return HASHER.hash("raybase: a password nobody has")


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches the stored hash; with no hash (unknown user, no password) it
    spends the same time against a dummy hash and answers False."""
    try:
        return HASHER.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def check_password(password: Any, min_length: int, rules: dict[str, Any] | None = None) -> str:
    """The password if it meets governance's minimum length and the auth config's rules, else
    400 naming the rule broken."""
    rules = rules or {}
    if not isinstance(password, str) or not password:
        raise invalid("password is required", "password")
    length = max(min_length, int(rules.get("min_length") or 0))
    if len(password) < length:
        raise invalid(f"password must be at least {length} characters (rule: min_length)",
                      "password")
    if len(password) > MAX_LENGTH:
        raise invalid(f"password must be at most {MAX_LENGTH} characters", "password")
    classes = {"require_upper": (str.isupper, "an upper-case letter"),
               "require_lower": (str.islower, "a lower-case letter"),
               "require_digit": (str.isdigit, "a digit"),
               "require_symbol": (lambda c: c in string.punctuation or not c.isalnum(),
                                  "a symbol")}
    for rule, (test, what) in classes.items():
        if rules.get(rule) and not any(test(c) for c in password):
            raise invalid(f"password must contain {what} (rule: {rule})", "password")
    return password
