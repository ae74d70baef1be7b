"""A subscriber connects and disconnects add-ons.

What the account holds, for the rules (catalog.addon_problems), is every add-on
subscription not ended before today: running, starting tomorrow, or disconnected with
today as its last day (it may be connected again from tomorrow). Connecting starts a
subscription on catalog.addon_starts_on (and ends it the day before a scheduled tariff
change that takes away the tariff it requires, as the change ends those held when it was
made); disconnecting ends it today, so tomorrow is
not charged (one that has not started yet is removed: it was never charged). Each is
an audit event (actor person:N).

An add-on that starts today, connected after today's run has charged the account, is
charged its share of today here, under the run's own key (so the run never charges it
again), as a tariff change today is: otherwise its first day would never be charged.
"""

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.domain import audit, catalog, ledger, tariff_change
from portal.domain.billing import charges
from portal.domain.errors import DomainError, NotFound
from portal.domain.promos import promotions
from portal.models import (
    Account,
    AccountStatus,
    BillingDay,
    EntryKind,
    Service,
    Subscription,
    TariffChange,
)

CONNECTED = "addon.connected"
DISCONNECTED = "addon.disconnected"


class NotConnected(DomainError):
    """The add-on's subscription has ended already."""


@dataclass(frozen=True)
class Held:
    """An add-on subscription of the account, as the page lists it."""

    subscription: Subscription
    service: Service
    starts_later: bool  # starts after today
    ending_today: bool  # disconnected: today is its last day


def held(account: Account, today: date) -> list[Held]:
    """The account's add-on subscriptions not ended before today, by name."""
    rows = [
        Held(s, s.service, s.started_on > today, s.ended_on == today)
        for s in account.subscriptions
        if s.service is not None and (s.ended_on is None or s.ended_on >= today)
    ]
    return sorted(rows, key=lambda h: (h.service.name, h.subscription.id))


def problems(account: Account, addon: Service, today: date) -> list[catalog.AddonProblem]:
    """Why the account cannot connect `addon` today (empty: it can)."""
    tariffs = catalog.connected(account, today).tariffs
    return catalog.addon_problems(tariffs, [h.service for h in held(account, today)], addon)


def connect(
    db: Session,
    account_id: int,
    addon_id: int,
    today: date,
    *,
    person_id: int,
    address: str | None = None,
    promotion_id: int | None = None,
) -> Subscription:
    """Connect the add-on (NotFound: no such add-on), refused with catalog.AddonRefused
    when a rule fails (a form sent twice finds it connected). Through a promotion's
    action (`promotion_id`) at its promotional price, recorded on the subscription;
    refused (errors.Refused) as promotions.promo_price says."""
    charges.wait_for_the_run(db)  # one from today is charged today if the run has been
    account = ledger.lock_account(db, account_id)
    addon = db.get(Service, addon_id)
    if addon is None:
        raise NotFound(f"add-on {addon_id}")
    found = problems(account, addon, today)
    if found:
        raise catalog.AddonRefused(addon, found)
    subscription = Subscription(
        account_id=account.id, service_id=addon.id, started_on=catalog.addon_starts_on(addon, today)
    )
    if promotion_id is not None:
        offer = promotions.promo_price(
            db, account, promotion_id, addon.id, subscription.started_on, today
        )
        subscription.promotion_id = offer.promotion.id
        subscription.price_override = offer.price
        subscription.price_override_until = offer.until
    ending = _ended_by_a_coming_change(db, account, addon, subscription.started_on, today)
    if ending is not None:
        change, subscription.ended_on = ending
    db.add(subscription)
    db.flush()
    if ending is not None:  # as if it had been held when the change was made
        change.ended_addon_ids = [*change.ended_addon_ids, subscription.id]
    _charge_today_after_the_run(db, account, subscription, today)
    audit.by_person(
        db,
        CONNECTED,
        person_id,
        account_id=account.id,
        address=address,
        subscription_id=subscription.id,
        starts_on=subscription.started_on.isoformat(),
        ends_on=subscription.ended_on.isoformat() if subscription.ended_on else None,
        **_promotional(subscription),
        before={"addon": None},
        after={"addon": addon.code},
    )
    db.expire(account, ["subscriptions"])
    return subscription


def _charge_today_after_the_run(
    db: Session, account: Account, subscription: Subscription, today: date
) -> None:
    """An add-on starting today when today's run is over: its share of today, at the
    price of today (a promotional one included), under the run's key. Nothing when the
    run has not been (it charges the day itself) or charges the account nothing today
    (not active, or paused)."""
    if subscription.started_on != today or account.status is not AccountStatus.ACTIVE:
        return
    if db.get(BillingDay, today) is None:
        return
    if db.scalar(sa.select(sa.exists().where(charges.paused_on(today, sa.literal(account.id))))):
        return
    share = charges.daily_share(charges.price_on(subscription, today), today)
    if share:
        ledger.post(
            db,
            account.id,
            EntryKind.CHARGE,
            -share,
            key=charges.charge_key(subscription.id, today),
            description=subscription.service.name,
            service_date=today,
        )


def _promotional(subscription: Subscription) -> dict[str, object]:
    """The audit's data of a connection through a promotion (none otherwise)."""
    if subscription.promotion_id is None:
        return {}
    until = subscription.price_override_until
    return {
        "promotion": subscription.promotion_id,
        "price_override": subscription.price_override,
        "price_override_until": until.isoformat() if until else None,
    }


def ends_by_a_coming_change(
    db: Session, account: Account, addon: Service, today: date
) -> date | None:
    """The last day `addon` would have if connected today, when a scheduled tariff change
    ends it (None: no end, or the change leaves it no day at all, which connect refuses)."""
    starts_on = catalog.addon_starts_on(addon, today)
    try:
        ending = _ended_by_a_coming_change(db, account, addon, starts_on, today)
    except catalog.AddonRefused:
        return None
    return ending[1] if ending is not None else None


def _ended_by_a_coming_change(
    db: Session, account: Account, addon: Service, starts_on: date, today: date
) -> tuple[TariffChange, date] | None:
    """A scheduled tariff change that takes away the tariff or group `addon` requires, and
    the add-on's last day by it (the day before the change, as for the add-ons held when
    the change was made). One that would end before it starts is refused."""
    needs = (catalog.AddonProblemKind.REQUIRES_GROUP, catalog.AddonProblemKind.REQUIRES_TARIFF)
    for change in tariff_change.pending(db, account.id, today):
        tariffs = catalog.connected(account, change.takes_effect_on).tariffs
        lacking = [p for p in catalog.addon_problems(tariffs, [], addon) if p.kind in needs]
        if not lacking:
            continue
        last_day = tariff_change.addons_last_day(change.takes_effect_on, today)
        if last_day < starts_on:
            raise catalog.AddonRefused(addon, lacking)
        return change, last_day
    return None


def disconnect(
    db: Session,
    account_id: int,
    subscription_id: int,
    today: date,
    *,
    person_id: int,
    address: str | None = None,
) -> Service:
    """End the account's add-on subscription today (NotFound: not the account's add-on;
    NotConnected: ended already)."""
    account = ledger.lock_account(db, account_id)
    subscription = db.get(Subscription, subscription_id)
    if (
        subscription is None
        or subscription.account_id != account.id
        or subscription.service is None
    ):
        raise NotFound(f"add-on subscription {subscription_id}")
    if subscription.ended_on is not None and subscription.ended_on <= today:
        raise NotConnected(str(subscription_id))
    addon = subscription.service
    data = {"subscription_id": subscription.id}
    if subscription.started_on > today:
        db.delete(subscription)  # never charged
        data["removed"] = True
    else:
        subscription.ended_on = today
        data["ended_on"] = today.isoformat()
    db.flush()
    audit.by_person(
        db,
        DISCONNECTED,
        person_id,
        account_id=account.id,
        address=address,
        before={"addon": addon.code},
        after={"addon": None},
        **data,
    )
    db.expire(account, ["subscriptions"])
    return addon
