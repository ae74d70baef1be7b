"""A subscriber changes a tariff for another of its group: what it would be, then doing it.

The catalogue's rules come from portal.domain.catalog (the group, archive, fee by
direction, the day it takes effect); this module adds the account's side:

- the monthly limit: changes made in the calendar month (not cancelled) against the
  group's `changes_per_month`;
- one pending change at a time: a change whose day has not come, not cancelled;
- the balance must carry the fee: after it, the balance stays at the block threshold;
  otherwise the change is refused with the missing sum;
- the subscriptions are switched when the change is made, ahead of its day: the old
  one ends the day before, the new one starts on the day (the billing run charges
  what charges.billable_on says, and it says just that). A change "today" whose old
  tariff was charged for today already (the run for today has been) gives that charge
  back and charges the new tariff's share of today under the run's own key, so the
  month adds up exactly: the old price for the days before, the new from today (a day
  paused from today is charged nothing either way: suspension gives it back);
- add-ons that require the old tariff or its group (catalog's rules) and that the new
  tariff does not give are disconnected with the change, as a subscriber expects when
  the tariff they came with goes: the side-by-side page names them and their last day
  (`Proposal.ending_addons`), and confirming ends them the day before the change takes
  effect (a change today: they run to the end of today, as a disconnection does; one
  not started by then is removed, never charged), so the run charges them up to that
  day and not after. The change keeps the ids of those it ended (`ended_addon_ids`) and
  what those it removed were (`removed_addons`);
- a scheduled change may be cancelled until its day, and everything is as before it
  was made: the old subscription runs on, the new one, never charged, is removed, the
  fee comes back (a credit), the add-ons it ended run on and those it removed are
  connected again as they were (their first day, their promotional price), all of them
  still in the future, so no day goes uncharged or is charged twice. What the subscriber
  did meanwhile stands: an add-on they disconnected since stays so, and a removed one
  does not come back beside the same add-on or one excluding it connected since.

Every change and cancellation is an audit event (actor person:N, the tariff before and
after, and the add-ons the change disconnects or the cancellation brings back, as
`addons`), the fee a ledger charge whose key names the change.
"""

import enum
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit, billing, catalog, ledger
from portal.domain.billing.charges import (
    charge_key,
    daily_share,
    old_charge_key,
    paused_on,
    wait_for_the_run,
)
from portal.domain.billing.debt import missing_for
from portal.domain.errors import DomainError, NotFound
from portal.models import (
    Account,
    EntryKind,
    LedgerEntry,
    Service,
    Subscription,
    Tariff,
    TariffChange,
)

CHANGED = "tariff.changed"
CANCELLED = "tariff.change_cancelled"


class Refusal(enum.StrEnum):
    """Why the account cannot change its tariff now (besides the catalogue's rules)."""

    NO_CURRENT = "no_current"  # no tariff of that kind running to change
    LIMIT = "limit"  # the group's changes a month are used up
    PENDING = "pending"  # a change is waiting for its day already
    CHANGED_TODAY = "changed_today"  # the current tariff started today: change tomorrow
    BALANCE = "balance"  # the balance cannot carry the fee


class ChangeRefused(DomainError):
    """A change the account cannot make; `why` is a Refusal or a catalog.ChangeRefusal,
    `missing` the kopecks to pay first (BALANCE), `limit` the group's limit (LIMIT)."""

    def __init__(self, why, *, missing: int = 0, limit: int | None = None):
        super().__init__(why.value)
        self.why = why
        self.missing = missing
        self.limit = limit


class AlreadyMade(DomainError):
    """The confirming form was sent before: the change it made is `change`."""

    def __init__(self, change: TariffChange):
        super().__init__(f"tariff change {change.id}")
        self.change = change


class NotCancellable(DomainError):
    """The change was cancelled already, or its day has come."""


@dataclass(frozen=True)
class Cancelled:
    """A cancelled change and the add-ons running on because of it, by name."""

    change: TariffChange
    addons: list[Subscription]


@dataclass(frozen=True)
class Proposal:
    """A change as the side-by-side page shows it, before it is confirmed."""

    current: Tariff
    target: Tariff
    subscription: Subscription  # the current tariff's
    fee: int
    direction: catalog.Direction
    takes_effect_on: date
    difference: int  # kopecks a month, the target's price less the current one's
    forecast: billing.Forecast  # the balance after the fee, with the change made
    refusal: ChangeRefused | None  # why it cannot be confirmed, or None
    ending_addons: list[Subscription]  # add-ons the change disconnects, by name
    addons_last_day: date  # the last day they run


def current_subscription(account: Account, kind, today: date) -> Subscription | None:
    """The account's running subscription to a tariff of `kind` today."""
    for subscription in account.subscriptions:
        if (
            subscription.tariff is not None
            and subscription.tariff.kind == kind
            and billing.is_running(subscription, today)
        ):
            return subscription
    return None


# Built once (the home page runs it on every view): building a statement and its cache
# key costs SQLAlchemy more than running it; the values go in as parameters.
_PENDING = (
    sa.select(TariffChange)
    .where(
        TariffChange.account_id == sa.bindparam("account_id"),
        TariffChange.cancelled_at.is_(None),
        TariffChange.takes_effect_on > sa.bindparam("today"),
    )
    .order_by(TariffChange.id)
)


def pending(db: Session, account_id: int, today: date) -> list[TariffChange]:
    """The account's changes waiting for their day."""
    return list(db.scalars(_PENDING, {"account_id": account_id, "today": today}))


def changes_this_month(db: Session, account_id: int, group_id: int, today: date) -> int:
    """The account's changes within the group made in `today`'s month, not cancelled."""
    return db.scalar(
        sa.select(sa.func.count())
        .select_from(TariffChange)
        .join(Tariff, Tariff.id == TariffChange.to_tariff_id)
        .where(
            TariffChange.account_id == account_id,
            Tariff.group_id == group_id,
            TariffChange.cancelled_at.is_(None),
            TariffChange.made_on >= today.replace(day=1),
            TariffChange.made_on <= today,
        )
    )


def addons_last_day(takes_effect_on: date, today: date) -> date:
    """The last day of the add-ons a change ends: the day before it takes effect, or
    today for a change today (disconnected from tomorrow, as a disconnection is)."""
    return max(today, takes_effect_on - timedelta(days=1))


def addons_ending(
    account: Account, current: Subscription, target: Tariff, takes_effect_on: date
) -> list[Subscription]:
    """The account's add-on subscriptions running on or after `takes_effect_on` whose
    required tariff or group the account no longer has once `current` gives way to
    `target` (catalog.addon_problems), by name."""
    tariffs = [
        s.tariff
        for s in account.subscriptions
        if s.tariff is not None and s is not current and billing.is_running(s, takes_effect_on)
    ] + [target]
    needs = (catalog.AddonProblemKind.REQUIRES_GROUP, catalog.AddonProblemKind.REQUIRES_TARIFF)
    ending = [
        s
        for s in account.subscriptions
        if s.service is not None
        and (s.ended_on is None or s.ended_on >= takes_effect_on)
        and any(p.kind in needs for p in catalog.addon_problems(tariffs, [], s.service))
    ]
    return sorted(ending, key=lambda s: (s.service.name, s.id))


def _end_addons(
    db: Session, ending: list[Subscription], last_day: date
) -> tuple[list[int], list[dict[str, Any]]]:
    """End the add-ons a change disconnects on `last_day`, remove one that starts after
    it (never charged); the ids of those ended, and what those removed were."""
    ended, removed = [], []
    for subscription in ending:
        if subscription.started_on > last_day:
            until = subscription.price_override_until
            removed.append(
                {
                    "service_id": subscription.service_id,
                    "started_on": subscription.started_on.isoformat(),
                    "promotion_id": subscription.promotion_id,
                    "price_override": subscription.price_override,
                    "price_override_until": until.isoformat() if until else None,
                }
            )
            db.delete(subscription)
        else:
            subscription.ended_on = last_day
            ended.append(subscription.id)
    db.flush()
    return ended, removed


def addons_back(db: Session, account: Account, record: TariffChange) -> list[Subscription]:
    """The add-ons cancelling the scheduled change `record` lets run on, by name: those it
    ended that still end on its eve (one the subscriber disconnected since ended earlier)
    and, as new subscriptions not yet added to the session, those it removed that the
    account may hold again (not the same add-on or one excluding it connected since)."""
    last_day = addons_last_day(record.takes_effect_on, record.made_on)
    back = [
        s
        for s in account.subscriptions
        if s.id in record.ended_addon_ids and s.service is not None and s.ended_on == last_day
    ]
    # Only what would run beside it stands in the way: the tariff it requires is the old
    # one, which runs on, and an add-on archived since stays with whoever had it.
    in_the_way = (catalog.AddonProblemKind.CONNECTED, catalog.AddonProblemKind.EXCLUDED)
    for removed in record.removed_addons:
        service = db.get(Service, removed["service_id"])
        starts_on = date.fromisoformat(removed["started_on"])
        held = [
            s.service
            for s in account.subscriptions
            if s.service is not None and (s.ended_on is None or s.ended_on >= starts_on)
        ] + [s.service for s in back]
        if service is None or any(
            p.kind in in_the_way for p in catalog.addon_problems([], held, service)
        ):
            continue
        until = removed["price_override_until"]
        back.append(
            Subscription(
                account_id=account.id,
                service=service,
                started_on=starts_on,
                promotion_id=removed["promotion_id"],
                price_override=removed["price_override"],
                price_override_until=date.fromisoformat(until) if until else None,
            )
        )
    return sorted(back, key=lambda s: (s.service.name, s.id or 0))


def _refusal(
    db: Session,
    account: Account,
    current: Subscription,
    target: Tariff,
    today: date,
    *,
    fee: int,
    block_threshold: int,
) -> ChangeRefused | None:
    why = catalog.change_refusal(current.tariff, target)
    if why is not None:
        return ChangeRefused(why)
    if pending(db, account.id, today):
        return ChangeRefused(Refusal.PENDING)
    if current.ended_on is not None:
        return ChangeRefused(Refusal.PENDING)  # ending: a staff matter or a change before
    if current.started_on >= today:
        return ChangeRefused(Refusal.CHANGED_TODAY)
    limit = target.group.changes_per_month
    if limit is not None and changes_this_month(db, account.id, target.group_id, today) >= limit:
        return ChangeRefused(Refusal.LIMIT, limit=limit)
    missing = missing_for(account.balance, fee, block_threshold)
    if missing:
        return ChangeRefused(Refusal.BALANCE, missing=missing)
    return None


def propose(
    db: Session, account: Account, target: Tariff, today: date, *, block_threshold: int
) -> Proposal:
    """The change of the account's tariff of the target's kind for `target`, as it
    would be if confirmed today; ChangeRefused(NO_CURRENT) without such a tariff."""
    current = current_subscription(account, target.kind, today)
    if current is None:
        raise ChangeRefused(Refusal.NO_CURRENT)
    why = catalog.change_refusal(current.tariff, target)
    fee = 0 if why is not None else catalog.change_fee(current.tariff, target)
    takes_effect_on = catalog.change_takes_effect_on(target, today)
    ending = addons_ending(account, current, target, takes_effect_on)
    last_day = addons_last_day(takes_effect_on, today)
    # The account's subscriptions with the change made (transient copies: never saved).
    others = [s for s in account.subscriptions if s is not current and s not in ending]
    ended = [
        Subscription(
            service=s.service,
            started_on=s.started_on,
            ended_on=last_day,
            price_override=s.price_override,  # charged at its promotional price still
            price_override_until=s.price_override_until,
        )
        for s in ending
        if s.started_on <= last_day
    ]
    after = [
        *others,
        *ended,
        Subscription(
            tariff=current.tariff,
            started_on=current.started_on,
            ended_on=takes_effect_on - timedelta(days=1),
        ),
        Subscription(tariff=target, started_on=takes_effect_on),
    ]
    return Proposal(
        current=current.tariff,
        target=target,
        subscription=current,
        fee=fee,
        direction=catalog.change_direction(current.tariff, target),
        takes_effect_on=takes_effect_on,
        difference=target.monthly_price - current.tariff.monthly_price,
        forecast=billing.account_forecast(
            db,
            account,
            today,
            block_threshold=block_threshold,
            balance=account.balance - fee,
            subscriptions=after,
        ),
        refusal=_refusal(
            db, account, current, target, today, fee=fee, block_threshold=block_threshold
        ),
        ending_addons=ending,
        addons_last_day=last_day,
    )


def change(
    db: Session,
    account_id: int,
    target_id: int,
    today: date,
    *,
    person_id: int,
    form_key: str,
    block_threshold: int,
    address: str | None = None,
) -> TariffChange:
    """Change the account's tariff for the tariff `target_id` (NotFound when there is no
    such tariff), by the rules above; AlreadyMade when `form_key` made a change before.
    In the caller's transaction (the caller commits, or rolls back on an error)."""
    wait_for_the_run(db)  # a change today swaps today's charge if the run has been
    account = ledger.lock_account(db, account_id)  # one change of an account at a time
    made = db.scalar(sa.select(TariffChange).where(TariffChange.form_key == form_key))
    if made is not None:
        if made.account_id != account_id:
            raise NotFound(f"tariff change form {form_key}")
        raise AlreadyMade(made)
    target = db.get(Tariff, target_id)
    if target is None:
        raise NotFound(f"tariff {target_id}")
    proposal = propose(db, account, target, today, block_threshold=block_threshold)
    if proposal.refusal is not None:
        raise proposal.refusal
    old = proposal.subscription
    ended_codes = [s.service.code for s in proposal.ending_addons]
    ended_ids, removed = _end_addons(db, proposal.ending_addons, proposal.addons_last_day)
    new = Subscription(
        account_id=account.id, tariff_id=target.id, started_on=proposal.takes_effect_on
    )
    db.add(new)
    old.ended_on = proposal.takes_effect_on - timedelta(days=1)
    db.flush()
    now = clock.now()
    record = TariffChange(
        account_id=account.id,
        person_id=person_id,
        from_tariff_id=proposal.current.id,
        to_tariff_id=target.id,
        old_subscription_id=old.id,
        new_subscription_id=new.id,
        made_on=today,
        takes_effect_on=proposal.takes_effect_on,
        fee=proposal.fee,
        form_key=form_key,
        created_at=now,
        applied_at=now,
        ended_addon_ids=ended_ids,
        removed_addons=removed,
    )
    db.add(record)
    db.flush()
    if proposal.fee:
        ledger.post(
            db,
            account.id,
            EntryKind.CHARGE,
            -proposal.fee,
            key=fee_key(record.id),
            description=f"{proposal.current.name} → {target.name}",
            service_date=today,
        )
    if proposal.takes_effect_on == today:
        _swap_todays_charge(db, account.id, old, new, today, record.id)
    audit.by_person(
        db,
        CHANGED,
        person_id,
        account_id=account.id,
        address=address,
        tariff_change_id=record.id,
        takes_effect_on=record.takes_effect_on.isoformat(),
        fee=record.fee,
        before={
            "tariff": proposal.current.code,
            "tariff_name": proposal.current.name,
            **({"addons": ended_codes} if ended_codes else {}),
        },
        after={
            "tariff": target.code,
            "tariff_name": target.name,
            **({"addons": []} if ended_codes else {}),
        },
    )
    db.expire(account, ["subscriptions"])
    return record


def _swap_todays_charge(
    db: Session, account_id: int, old: Subscription, new: Subscription, today: date, change_id: int
) -> None:
    """When the run has charged today already, the old tariff's share of today goes back
    and the new one's is charged under the run's key (so the run never charges it again).
    Nothing on a paused day: a pause from today asked for after the run has given the
    day's charges back already (suspension._pause_today), and the day costs nothing of
    the monthly prices, whatever the tariff."""
    paused = sa.exists().where(paused_on(today, sa.literal(account_id)))
    if db.scalar(sa.select(paused)):
        return
    # The old shape of key too: today's run may have been made before the keys changed.
    keys = [charge_key(old.id, today), old_charge_key(old.id, today)]
    charged = db.scalar(sa.select(LedgerEntry).where(LedgerEntry.idempotency_key.in_(keys)))
    if charged is None:
        return  # the run has not been (or left the account out): it charges the new one
    ledger.post(
        db,
        account_id,
        EntryKind.CREDIT,
        -charged.amount,
        key=today_back_key(change_id),
        description=charged.description,
        service_date=today,
    )
    share = daily_share(new.tariff.monthly_price if new.tariff else 0, today)
    if share:
        ledger.post(
            db,
            account_id,
            EntryKind.CHARGE,
            -share,
            key=charge_key(new.id, today),
            description=new.tariff.name,
            service_date=today,
        )


def cancel(
    db: Session,
    account_id: int,
    change_id: int,
    today: date,
    *,
    person_id: int,
    address: str | None = None,
) -> Cancelled:
    """Cancel the account's scheduled change `change_id` (NotFound when it is not the
    account's) as the module's docstring says; NotCancellable once cancelled or once its
    day has come."""
    account = ledger.lock_account(db, account_id)
    record = db.get(TariffChange, change_id)
    if record is None or record.account_id != account_id:
        raise NotFound(f"tariff change {change_id}")
    if record.cancelled_at is not None or record.takes_effect_on <= today:
        raise NotCancellable(str(change_id))
    old = db.get(Subscription, record.old_subscription_id)
    new = db.get(Subscription, record.new_subscription_id) if record.new_subscription_id else None
    old.ended_on = None
    back = addons_back(db, account, record)
    for addon in back:
        if addon.id is None:  # removed by the change: connected again as it was
            db.add(addon)
        else:
            addon.ended_on = None
    record.new_subscription_id = None
    record.cancelled_at = clock.now()
    db.flush()
    if new is not None:
        db.delete(new)
        db.flush()
    if record.fee:
        ledger.post(  # the fee comes back with the change it paid for
            db,
            account_id,
            EntryKind.CREDIT,
            record.fee,
            key=fee_back_key(record.id),
            description=f"{record.from_tariff.name} → {record.to_tariff.name}",
            service_date=today,
        )
    audit.by_person(
        db,
        CANCELLED,
        person_id,
        account_id=account_id,
        address=address,
        tariff_change_id=record.id,
        before={
            "tariff": record.to_tariff.code,
            "takes_effect_on": record.takes_effect_on.isoformat(),
            **({"addons": []} if back else {}),
        },
        after={
            "tariff": record.from_tariff.code,
            "takes_effect_on": None,
            **({"addons": [s.service.code for s in back]} if back else {}),
        },
    )
    db.expire(account, ["subscriptions"])
    return Cancelled(record, back)


def fee_key(change_id: int) -> str:
    """The ledger key of a tariff change's fee."""
    return f"tariff_change:{change_id}:fee"


def fee_back_key(change_id: int) -> str:
    """The ledger key of that fee given back (the change cancelled)."""
    return f"tariff_change:{change_id}:fee_back"


def today_back_key(change_id: int) -> str:
    """The ledger key of the old tariff's share of today given back by a change that
    takes effect today (suspension._pause_today looks for these by their shape)."""
    return f"tariff_change:{change_id}:today"
