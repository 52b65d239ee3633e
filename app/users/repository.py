"""The only code that reads and writes users, console sessions and the login throttle."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.db import insert_for
from app.users.models import ConsoleSession, LoginThrottle, User


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalars(sa.select(User).where(User.email == email)).first()


def add_user(session: Session, *, email: str, role: str, password_hash: str, now: datetime) -> User:
    user = User(email=email, role=role, password_hash=password_hash, created_at=now)
    session.add(user)
    session.flush()
    return user


def all_users(session: Session) -> list[User]:
    return list(session.scalars(sa.select(User).order_by(User.email)))


def end_sessions_of(session: Session, user_id: int, now: datetime) -> int:
    result = session.execute(
        sa.update(ConsoleSession)
        .where(ConsoleSession.user_id == user_id, ConsoleSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def add_session(
    session: Session, *, digest: str, user_id: int, now: datetime, expires_at: datetime
) -> None:
    session.add(ConsoleSession(id=digest, user_id=user_id, created_at=now, expires_at=expires_at))
    session.flush()


def end_session(session: Session, digest: str, now: datetime) -> None:
    session.execute(
        sa.update(ConsoleSession)
        .where(ConsoleSession.id == digest, ConsoleSession.ended_at.is_(None))
        .values(ended_at=now)
    )


def live_session_user(session: Session, digest: str, now: datetime) -> sa.Row | None:
    """(id, email, role) of the user of a session that has not ended or expired and
    whose user is not disabled: one indexed query."""
    return session.execute(
        sa.select(User.id, User.email, User.role)
        .join(ConsoleSession, ConsoleSession.user_id == User.id)
        .where(
            ConsoleSession.id == digest,
            ConsoleSession.ended_at.is_(None),
            ConsoleSession.expires_at > now,
            User.disabled_at.is_(None),
        )
    ).first()


def throttles(session: Session, keys: Sequence[str]) -> list[LoginThrottle]:
    return list(session.scalars(sa.select(LoginThrottle).where(LoginThrottle.key.in_(keys))))


def count_failure(
    session: Session, keys: Sequence[str], now: datetime, forget_before: datetime
) -> None:
    """One more failure for each key; a count whose last failure is older than
    `forget_before` starts again at one."""
    table = LoginThrottle.__table__
    for key in keys:
        stmt = insert_for(session, table).values(key=key, failures=1, last_failure_at=now)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "failures": sa.case(
                        (table.c.last_failure_at < forget_before, 1),
                        else_=table.c.failures + 1,
                    ),
                    "last_failure_at": now,
                },
            )
        )


def forget_failures(session: Session, key: str) -> None:
    session.execute(sa.delete(LoginThrottle).where(LoginThrottle.key == key))
