"""Pure rules of console users: roles and what each may do, emails, the login throttle."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

FINANCE, OPS, ADMIN = "finance", "ops", "admin"
ROLES = (FINANCE, OPS, ADMIN)

# What a role may change (everyone signed in reads everything). CONTRACT §6.
RECONCILIATIONS, ORDERS, STOCK, EVENTS, USERS = (
    "reconciliations",
    "orders",
    "stock",
    "events",
    "users",
)
ACTS_ON: dict[str, frozenset[str]] = {
    FINANCE: frozenset({RECONCILIATIONS}),
    OPS: frozenset({ORDERS, STOCK, EVENTS}),
    ADMIN: frozenset({RECONCILIATIONS, ORDERS, STOCK, EVENTS, USERS}),
}

MAX_EMAIL = 100
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Failures allowed before waiting; then the wait doubles per failure, up to the cap.
FREE_FAILURES = 5
FIRST_WAIT = timedelta(seconds=2)
MAX_WAIT = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)


class UserError(ValueError):
    """Input a user command or form cannot accept (the message says why)."""


def may_act(role: str | None, area: str) -> bool:
    return role is not None and area in ACTS_ON.get(role, frozenset())


def normal_email(raw: str) -> str:
    email = raw.strip().lower()
    if not email or len(email) > MAX_EMAIL or not _EMAIL.match(email):
        raise UserError(f"{raw.strip()!r} is not an email address (at most {MAX_EMAIL} characters)")
    if any(ord(c) < 32 or ord(c) == 127 for c in email):
        raise UserError("an email address cannot contain control characters")
    return email


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"the password must have at most {MAX_PASSWORD} characters")
    if "\x00" in password:
        raise UserError("the password cannot contain NUL")
    return password


def wait_after(failures: int) -> timedelta:
    """How long after the last failure the next attempt must wait."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    steps = min(failures - FREE_FAILURES, 20)
    return min(FIRST_WAIT * (2**steps), MAX_WAIT)


def retry_in(failures: int, last_failure_at: datetime, now: datetime) -> int:
    """Whole seconds until another attempt is heard (0: now)."""
    left = (last_failure_at + wait_after(failures)) - now
    return max(0, int(left.total_seconds() + 0.999))
