"""The settings the visit rules take (from PORTAL_VISIT_* and the provider's zone)."""

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class VisitPolicy:
    tz: str = "Europe/Simferopol"
    # A request may be cancelled or moved by the subscriber until this many hours before
    # its window starts.
    change_hours: int = 2
    # How many days ahead (today included) a window may be booked.
    days_ahead: int = 14
    # The local hour of the evening before a visit from which its reminder goes.
    remind_hour: int = 18
    provider_name: str = "OneCity"
    # Web push is on here (PORTAL_PUSH_ENABLED): visit messages may go to devices.
    push: bool = False

    def moment(self, day: date, at: time) -> datetime:
        """The UTC moment of a local day and time of the provider."""
        from datetime import UTC

        return datetime.combine(day, at, ZoneInfo(self.tz)).astimezone(UTC)


def policy_from(config) -> VisitPolicy:
    return VisitPolicy(
        tz=config["PORTAL_TIMEZONE"],
        change_hours=config["PORTAL_VISIT_CHANGE_HOURS"],
        days_ahead=config["PORTAL_VISIT_DAYS_AHEAD"],
        remind_hour=config["PORTAL_VISIT_REMIND_HOUR"],
        provider_name=config["PORTAL_PROVIDER_NAME"],
        push=bool(config["PORTAL_PUSH_ENABLED"]),
    )
