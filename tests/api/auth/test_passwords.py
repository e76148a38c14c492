from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from api.auth import passwords


def test_hashes_are_argon2id_with_owasp_parameters() -> None:
    stored = passwords.hash_password("a perfectly fine passphrase")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify_password(stored, "a perfectly fine passphrase")
    assert not passwords.verify_password(stored, "a perfectly fine passphrasE")
    assert not passwords.verify_password("not a hash", "anything")
    assert not passwords.needs_rehash(stored)


def test_weaker_hashes_need_a_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=4096, parallelism=1).hash("pw-long-enough")
    assert passwords.needs_rehash(weak)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 10"),
        ("x" * 129, "at most 128"),
        ("Password123", "too common"),
        ("QWERTYUIOP", "too common"),
        ("ada@example.com", "email or username"),
        ("ada-lovelace", "email or username"),
        ("correct horse battery staple", None),
        ("x" * 128, None),
    ],
)
def test_password_policy(password: str, problem: str | None) -> None:
    found = passwords.password_problem(password, email="ada@example.com", username="ada-lovelace")
    assert (found is None) if problem is None else (problem in (found or ""))
