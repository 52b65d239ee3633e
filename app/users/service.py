"""Console users: add, list, disable; sign in (throttled), session lookup, sign out."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.db import Database
from app.timeutil import utcnow
from app.users import domain
from app.users import repository as repo
from app.users.passwords import hash_password, verify_password

FORGET_FAILURES_AFTER = timedelta(hours=1)


class UserExists(Exception):
    pass


@dataclass(frozen=True)
class CurrentUser:
    id: int
    email: str
    role: str

    def may_act(self, area: str) -> bool:
        return domain.may_act(self.role, area)


@dataclass(frozen=True)
class UserInfo:
    email: str
    role: str
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True)
class SignIn:
    """The answer to a sign-in: a session token, or how long to wait (0 = just wrong)."""

    token: str | None = None
    user: CurrentUser | None = None
    retry_in: int = 0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(db: Database, email: str, role: str, password: str) -> UserInfo:
    email = domain.normal_email(email)
    domain.check_role(role)
    hashed = hash_password(domain.check_password(password))
    with db.write() as session:
        if repo.user_by_email(session, email) is not None:
            raise UserExists(f"a user {email} already exists")
        user = repo.add_user(session, email=email, role=role, password_hash=hashed, now=utcnow())
        return UserInfo(user.email, user.role, user.created_at, user.disabled_at)


def list_users(db: Database) -> list[UserInfo]:
    with db.read() as session:
        return [
            UserInfo(u.email, u.role, u.created_at, u.disabled_at) for u in repo.all_users(session)
        ]


def disable_user(db: Database, email: str) -> int:
    """Disable a user and end every session they have; returns how many ended."""
    email = domain.normal_email(email)
    now = utcnow()
    with db.write() as session:
        user = repo.user_by_email(session, email)
        if user is None:
            raise LookupError(f"no user {email}")
        if user.disabled_at is None:
            user.disabled_at = now
        return repo.end_sessions_of(session, user.id, now)


def sign_in(db: Database, email: str, password: str, client: str) -> SignIn:
    """Check a sign-in. Repeated failures for an email or from a client address wait
    longer each time; the answer never says whether the email or the password was wrong."""
    now = utcnow()
    try:
        email = domain.normal_email(email)
    except domain.UserError:
        email = ""
    keys = [f"ip:{client}"[:200]] + ([f"email:{email}"] if email else [])
    with db.read() as session:
        waits = [
            domain.retry_in(t.failures, t.last_failure_at, now)
            for t in repo.throttles(session, keys)
        ]
        user = repo.user_by_email(session, email) if email else None
    if waits and max(waits) > 0:
        return SignIn(retry_in=max(waits))
    live = user is not None and user.disabled_at is None
    ok = verify_password(user.password_hash if live and user else None, password)
    with db.write() as session:
        if not ok or user is None:
            repo.count_failure(session, keys, now, now - FORGET_FAILURES_AFTER)
            return SignIn()
        repo.forget_failures(session, f"email:{email}")
        token = secrets.token_urlsafe(32)
        repo.add_session(
            session,
            digest=_digest(token),
            user_id=user.id,
            now=now,
            expires_at=now + domain.SESSION_LIFETIME,
        )
        return SignIn(token=token, user=CurrentUser(user.id, user.email, user.role))


def session_user(db: Database, token: str) -> CurrentUser | None:
    with db.read() as session:
        row = repo.live_session_user(session, _digest(token), utcnow())
    return CurrentUser(row.id, row.email, row.role) if row is not None else None


def sign_out(db: Database, token: str) -> None:
    with db.write() as session:
        repo.end_session(session, _digest(token), utcnow())
