"""Time parsing for Starshipit's many timestamp shapes. Pure: no framework imports."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_time(value: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 time; a time with no zone is UTC.

    Starshipit sends `...Z`, seven fractional digits, offsets, or no zone at all.
    Raises ValueError with a readable message when the text is not a time.
    """
    text = value.strip()
    if not text:
        raise ValueError("empty time")
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(f"{value!r} is not an RFC 3339 time") from None
    except OverflowError:
        raise ValueError(f"{value!r} is outside the range of times") from None


def as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def isoformat(value: datetime | None) -> str | None:
    if value is None:
        return None
    return as_utc(value).isoformat().replace("+00:00", "Z")
