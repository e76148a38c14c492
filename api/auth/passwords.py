"""Password hashing (argon2id, OWASP parameters) and the password policy."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP Password Storage Cheat Sheet, argon2id: m = 19 MiB, t = 2, p = 1.
MEMORY_COST_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1

MIN_LENGTH = 10
MAX_LENGTH = 128

_hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("pulse-dummy-password-for-timing")


def burn_verification_time(password: str) -> None:
    """Do the work of one verification, so a login for an unknown email takes as long as
    one for a known email with a wrong password."""
    verify_password(_dummy_hash(), password)


# argon2 takes ~20 ms of CPU and releases the GIL: run it off the event loop so one login
# does not stall every other request, and so two cores hash two passwords at once.
async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(stored_hash: str, password: str) -> bool:
    return await asyncio.to_thread(verify_password, stored_hash, password)


async def burn_verification_time_async(password: str) -> None:
    await asyncio.to_thread(burn_verification_time, password)


@functools.cache
def _common_passwords() -> frozenset[str]:
    path = Path(__file__).with_name("common_passwords.txt")
    return frozenset(line.strip().lower() for line in path.read_text().splitlines() if line.strip())


def password_problem(password: str, *, email: str = "", username: str = "") -> str | None:
    """Why this password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"Password must be at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Password must be at most {MAX_LENGTH} characters."
    lowered = password.lower()
    if lowered in _common_passwords():
        return "This password is too common; choose another."
    if lowered in {email.lower(), username.lower(), email.split("@")[0].lower()}:
        return "Password must not be your email or username."
    return None
