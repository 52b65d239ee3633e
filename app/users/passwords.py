"""Password hashing with argon2id (argon2-cffi): slow, salted, self-describing hashes."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2-cffi's RFC 9106 low-memory profile


@cache
def _dummy_hash() -> str:
    return _hasher().hash("no such user: equal work for unknown emails")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored`. With no stored hash (unknown or disabled
    user) the same work is done against a dummy hash, so timing tells nothing."""
    try:
        return _hasher().verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
