"""The provider's catalogue as one account sees it: what it has today, what is offered,
and the rules a tariff change or a new add-on follows.

The tariffs page, the add-ons page and the home page all ask this one module, so the
question "what is connected today" has one answer (and one place for an adapter to an
outside billing system to answer it instead). The rules (`may_change`, `change_fee`,
`addon_problems`, ...) are plain functions over the catalogue's rows: the staff keep the
rows (portal.domain.catalog_keeping), the subscriber's pages and the billing ask these.
"""

import enum
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.domain import billing
from portal.domain.errors import DomainError, InvalidInput
from portal.models import (
    Account,
    AddonStart,
    Service,
    Subscription,
    TakesEffect,
    Tariff,
    TariffGroup,
    TariffKind,
)


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
    """The tariffs or add-ons (`kind`) offered to subscribers (not archived), in the
    order they are listed."""
    query = sa.select(kind).where(kind.archived_at.is_(None)).order_by(*_ORDER[kind])
    return list(db.scalars(query))


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
    """What a contract being signed may include: what is not archived."""
    tariffs = public(db, Tariff)
    return NewContract(
        internet=[t for t in tariffs if t.kind is TariffKind.INTERNET],
        tv=[t for t in tariffs if t.kind is TariffKind.TV],
        addons=public(db, Service),
    )


# --- the rules -----------------------------------------------------------------------


def is_archived(item: Tariff | Service | TariffGroup) -> bool:
    """Archived: kept on whoever has it, no longer offered."""
    return item.archived_at is not None


class ChangeRefusal(enum.StrEnum):
    """Why a tariff cannot be changed for another."""

    SAME = "same"  # the target is the current tariff
    ARCHIVED = "archived"  # the target is no longer offered
    NO_GROUP = "no_group"  # the current tariff is in no group: only the staff change it
    OTHER_GROUP = "other_group"  # the target is in another group (or none)


class NotChangeable(DomainError):
    """A tariff change the catalogue's rules refuse; `why` is a ChangeRefusal."""

    def __init__(self, why: ChangeRefusal):
        super().__init__(why.value)
        self.why = why


def change_refusal(current: Tariff, target: Tariff) -> ChangeRefusal | None:
    """Why `current` cannot be changed for `target`, or None when it may."""
    if target.id == current.id:
        return ChangeRefusal.SAME
    if current.group_id is None:
        return ChangeRefusal.NO_GROUP
    if target.group_id != current.group_id:
        return ChangeRefusal.OTHER_GROUP
    if is_archived(target):
        return ChangeRefusal.ARCHIVED
    return None


def may_change(current: Tariff, target: Tariff) -> bool:
    """Whether a subscriber on `current` may change to `target`: another tariff of the
    same group, not archived (the current one may be archived: moving off it is the point)."""
    return change_refusal(current, target) is None


class Direction(enum.StrEnum):
    UP = "up"  # to a dearer tariff
    DOWN = "down"  # to a cheaper one
    SAME_PRICE = "same_price"


def change_direction(current: Tariff, target: Tariff) -> Direction:
    if target.monthly_price > current.monthly_price:
        return Direction.UP
    if target.monthly_price < current.monthly_price:
        return Direction.DOWN
    return Direction.SAME_PRICE


def change_fee(current: Tariff, target: Tariff) -> int:
    """The fee for changing `current` for `target`, kopecks: the group's fee for the
    direction of the change. NotChangeable when the change is not allowed at all."""
    why = change_refusal(current, target)
    if why is not None:
        raise NotChangeable(why)
    group = target.group
    return {
        Direction.UP: group.fee_up,
        Direction.DOWN: group.fee_down,
        Direction.SAME_PRICE: group.fee_same,
    }[change_direction(current, target)]


def change_takes_effect_on(target: Tariff, today: date) -> date:
    """The day a change to `target` made `today` takes effect."""
    if target.takes_effect is TakesEffect.TODAY:
        return today
    return (today.replace(day=1) + timedelta(days=32)).replace(day=1)


def addon_starts_on(addon: Service, today: date) -> date:
    """The first day of an add-on connected `today`."""
    return today if addon.starts is AddonStart.TODAY else today + timedelta(days=1)


def excluded(addon: Service) -> list[Service]:
    """The add-ons `addon` cannot be held with (the exclusion is symmetric), by name."""
    return sorted(addon.excludes_later + addon.excludes_earlier, key=lambda s: (s.name, s.id))


class AddonProblemKind(enum.StrEnum):
    ARCHIVED = "archived"  # no longer offered
    CONNECTED = "connected"  # the account has it already
    REQUIRES_GROUP = "requires_group"  # no tariff of the group it requires
    REQUIRES_TARIFF = "requires_tariff"  # not the tariff it requires
    EXCLUDED = "excluded"  # an add-on the account has excludes it


@dataclass(frozen=True)
class AddonProblem:
    """One reason an add-on cannot be connected, and what it is about (the group or
    tariff required, the add-on in the way)."""

    kind: AddonProblemKind
    item: TariffGroup | Tariff | Service | None = None


def addon_problems(
    tariffs: list[Tariff], addons: list[Service], addon: Service
) -> list[AddonProblem]:
    """Why an account holding `tariffs` and `addons` cannot connect `addon` (every
    reason, for the page to say); empty when it can."""
    problems = []
    if is_archived(addon):
        problems.append(AddonProblem(AddonProblemKind.ARCHIVED))
    if any(held.id == addon.id for held in addons):
        problems.append(AddonProblem(AddonProblemKind.CONNECTED))
    group = addon.requires_group
    if group is not None and not any(t.group_id == group.id for t in tariffs):
        problems.append(AddonProblem(AddonProblemKind.REQUIRES_GROUP, group))
    required = addon.requires_tariff
    if required is not None and not any(t.id == required.id for t in tariffs):
        problems.append(AddonProblem(AddonProblemKind.REQUIRES_TARIFF, required))
    held_ids = {held.id for held in addons}
    problems.extend(
        AddonProblem(AddonProblemKind.EXCLUDED, other)
        for other in excluded(addon)
        if other.id in held_ids
    )
    return problems


class AddonRefused(InvalidInput):
    """An add-on a new contract (or an account) cannot have with what it holds."""

    def __init__(self, addon: Service, problems: list[AddonProblem]):
        super().__init__(f"add-on {addon.code!r}: {', '.join(p.kind.value for p in problems)}")
        self.addon = addon
        self.problems = problems


def check_contract(tariffs: list[Tariff], addons: list[Service]) -> None:
    """Refuse (AddonRefused) the first add-on that cannot be held with the rest of a new
    contract: each is judged as if the others were connected before it."""
    for addon in addons:
        others = [other for other in addons if other is not addon]
        problems = addon_problems(tariffs, others, addon)
        if problems:
            raise AddonRefused(addon, problems)
