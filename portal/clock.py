"""One injectable clock: UTC inside, the provider's time zone at the edges."""

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """The current moment, timezone-aware UTC."""
    return _now()


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); None puts the real one back."""
    global _now
    _now = fn or (lambda: datetime.now(UTC))


def current_clock() -> Callable[[], datetime]:
    """The clock in use, to put back after replacing it for a while (the demo's replay)."""
    return _now


def local_today(tz: str) -> date:
    """Today's date where the provider is."""
    return now().astimezone(ZoneInfo(tz)).date()


def provider_today() -> date:
    """Today where the provider is, for the web and the CLI (the domain takes a date)."""
    from flask import current_app

    return local_today(current_app.config["PORTAL_TIMEZONE"])


def local_day_bounds(
    first: date, last: date | None = None, *, tz: str
) -> tuple[datetime, datetime]:
    """The UTC moments a run of the provider's days begins and ends: from the first
    day's local midnight up to (not including) the midnight after `last` (or `first`)."""
    zone = ZoneInfo(tz)
    start = datetime.combine(first, time(), zone)
    end = datetime.combine((last or first) + timedelta(days=1), time(), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def to_local(moment: datetime, tz: str) -> datetime:
    return moment.astimezone(ZoneInfo(tz))
