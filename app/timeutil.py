"""Time parsing for Starshipit's many timestamp shapes. Pure: no framework imports."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


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


def local_text(value: datetime | None, zone: tzinfo, *, seconds: bool = False) -> str:
    """A time as people read it in the merchant's zone: `2026-11-20 14:05` (no
    microseconds, no ISO `T`); empty for None."""
    if value is None:
        return ""
    return (
        as_utc(value)
        .astimezone(zone)
        .strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    )
