"""What changes on which date for an account, as its home page and the staff's card
list it: scheduled tariff changes, add-ons starting later, add-ons ending (disconnected,
or ended by a tariff change). Promised payments and pauses have their own lists
(promised.running, suspension.current_and_coming)."""

import enum
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from portal.domain import tariff_change
from portal.models import Account


class What(enum.StrEnum):
    TARIFF = "tariff"  # a scheduled tariff change takes effect
    ADDON_STARTS = "addon_starts"  # an add-on is charged from this day
    ADDON_ENDS = "addon_ends"  # an add-on's last day


@dataclass(frozen=True)
class Coming:
    on: date
    what: What
    name: str  # the tariff or add-on
    instead_of: str | None = None  # the tariff it replaces (TARIFF)


def coming(db: Session, account: Account, today: date) -> list[Coming]:
    """The account's changes after today (an add-on's last day: from today on), by date."""
    found = [
        Coming(c.takes_effect_on, What.TARIFF, c.to_tariff.name, c.from_tariff.name)
        for c in tariff_change.pending(db, account.id, today)
    ]
    for subscription in account.subscriptions:
        if subscription.service is None:
            continue
        if subscription.started_on > today:
            found.append(
                Coming(subscription.started_on, What.ADDON_STARTS, subscription.service.name)
            )
        if subscription.ended_on is not None and subscription.ended_on >= today:
            found.append(Coming(subscription.ended_on, What.ADDON_ENDS, subscription.service.name))
    return sorted(found, key=lambda c: (c.on, c.what.value, c.name))
