"""One injectable clock: UTC inside, the provider's time zone at the edges."""

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """The current moment, timezone-aware UTC."""
    return _now()


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); None puts the real one back."""
    global _now
    _now = fn or (lambda: datetime.now(UTC))


def local_today(tz: str) -> date:
    """Today's date where the provider is."""
    return now().astimezone(ZoneInfo(tz)).date()


def provider_today() -> date:
    """Today where the provider is, for the web and the CLI (the domain takes a date)."""
    from flask import current_app

    return local_today(current_app.config["PORTAL_TIMEZONE"])


def to_local(moment: datetime, tz: str) -> datetime:
    return moment.astimezone(ZoneInfo(tz))
