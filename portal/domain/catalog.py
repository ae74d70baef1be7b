"""The provider's catalogue as one account sees it: what it has today and what is offered.

The tariffs page, the add-ons page and the home page all ask this one module, so the
question "what is connected today" has one answer (and one place for an adapter to an
outside billing system to answer it instead).
"""

from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.domain import billing
from portal.models import Account, Service, Subscription, Tariff, TariffKind


@dataclass(frozen=True)
class Connected:
    """An account's subscriptions running on a day, and the tariffs and add-ons they are."""

    subscriptions: list[Subscription]
    tariffs: list[Tariff]
    addons: list[Service]


Item = TypeVar("Item", Tariff, Service)


@dataclass(frozen=True)
class Offer(Generic[Item]):
    """One kind of catalogue item (tariffs or add-ons) for an account."""

    connected: list[Item]  # what the account has today
    catalogue: list[Item]  # everything offered to subscribers, cheapest first

    @property
    def others(self) -> list[Item]:
        """The catalogue without what the account has."""
        return [item for item in self.catalogue if item not in self.connected]


def connected(account: Account, day: date) -> Connected:
    """What the account is subscribed to on `day`."""
    running = [s for s in account.subscriptions if billing.is_running(s, day)]
    return Connected(
        subscriptions=running,
        tariffs=[s.tariff for s in running if s.tariff],
        addons=[s.service for s in running if s.service],
    )


# How each kind is listed: tariffs by kind (internet, then TV), then by price.
_ORDER = {Tariff: (Tariff.kind, Tariff.monthly_price), Service: (Service.monthly_price,)}


def public(db: Session, kind: type[Item]) -> list[Item]:
    """The tariffs or add-ons (`kind`) offered to subscribers, in the order they are listed."""
    return list(db.scalars(sa.select(kind).where(kind.is_public).order_by(*_ORDER[kind])))


def offer(db: Session, account: Account, kind: type[Item], day: date) -> Offer[Item]:
    """The account's tariffs or add-ons (`kind`) on `day`, and the public ones."""
    now = connected(account, day)
    return Offer(
        connected=now.tariffs if kind is Tariff else now.addons, catalogue=public(db, kind)
    )


@dataclass(frozen=True)
class NewContract:
    """What a contract being signed may include."""

    internet: list[Tariff]
    tv: list[Tariff]
    addons: list[Service]


def for_new_contract(db: Session) -> NewContract:
    tariffs = public(db, Tariff)
    return NewContract(
        internet=[t for t in tariffs if t.kind is TariffKind.INTERNET],
        tv=[t for t in tariffs if t.kind is TariffKind.TV],
        addons=public(db, Service),
    )
