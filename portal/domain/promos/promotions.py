"""A promotion from draft to published to withdrawn, and who sees it.

- Only a draft is edited: what was published is what marketing saw in the preview.
- The audience is everyone, or the holders of chosen tariffs and the accounts of chosen
  districts (a subscriber who has either is in it).
- A subscriber sees a published promotion from its first day to its last (and, ahead
  of it, as "coming"); a draft, a withdrawn one or one for others is a NotFound.

Each change is an audit event (actor staff:N) with what changed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit, catalog
from portal.domain.billing.charges import days_in_month
from portal.domain.errors import DomainError, InvalidInput, NotFound, Refused
from portal.models import Account, Promotion, PromotionState, Service, Subscription, Tariff

TITLE_MAX = 120
TEXT_MAX = 4000
# The longest a promotion may run (a typo in a year is refused, not published).
LONGEST_DAYS = 366
# The longest a promotional price may last, in months from the add-on's first day.
LONGEST_PROMO_MONTHS = 24

S = PromotionState
# What each state may become, and the audit event of the move.
ALLOWED: dict[PromotionState, frozenset[PromotionState]] = {
    S.DRAFT: frozenset({S.PUBLISHED}),
    S.PUBLISHED: frozenset({S.WITHDRAWN}),
    S.WITHDRAWN: frozenset(),
}

CREATED = "promotion.created"
CHANGED = "promotion.changed"


class InvalidTransition(DomainError):
    """The promotion cannot move from its state to the one asked."""

    def __init__(self, state: PromotionState, to: PromotionState):
        super().__init__(f"{state} -> {to}")
        self.state, self.to = state, to


class NotEditable(DomainError):
    """Only a draft is edited."""


@dataclass(frozen=True)
class Draft:
    """What marketing typed; `check` turns bad values into InvalidInput(<field>)."""

    title: str
    text: str
    starts_on: date
    ends_on: date
    tariff_ids: tuple[int, ...] = ()
    districts: tuple[str, ...] = ()
    action_service_id: int | None = None
    promo_price: int | None = None  # kopecks a month, for the action's add-on
    promo_months: int | None = None  # how long, from the add-on's first day


def check(db: Session, draft: Draft, known_districts: tuple[str, ...]) -> None:
    """InvalidInput naming the first field that cannot be kept."""
    if not draft.title.strip() or len(draft.title) > TITLE_MAX:
        raise InvalidInput("title")
    if not draft.text.strip() or len(draft.text) > TEXT_MAX:
        raise InvalidInput("text")
    if draft.ends_on < draft.starts_on:
        raise InvalidInput("dates_order")
    if (draft.ends_on - draft.starts_on).days >= LONGEST_DAYS:
        raise InvalidInput("dates_too_long")
    if draft.tariff_ids:
        found = db.scalars(sa.select(Tariff.id).where(Tariff.id.in_(draft.tariff_ids))).all()
        if len(set(found)) != len(set(draft.tariff_ids)):
            raise InvalidInput("tariffs")
    if any(d not in known_districts for d in draft.districts):
        raise InvalidInput("districts")
    if draft.action_service_id is not None:
        addon = db.get(Service, draft.action_service_id)
        if addon is None or catalog.is_archived(addon):
            raise InvalidInput("action")
    if draft.promo_price is not None or draft.promo_months is not None:
        if draft.action_service_id is None:
            raise InvalidInput("promo_without_action")
        if draft.promo_price is None or draft.promo_months is None:
            raise InvalidInput("promo_incomplete")
        if draft.promo_price < 0 or draft.promo_price > addon.monthly_price:
            raise InvalidInput("promo_price")
        if not 1 <= draft.promo_months <= LONGEST_PROMO_MONTHS:
            raise InvalidInput("promo_months")


def record(
    db: Session,
    event: str,
    promotion: Promotion,
    *,
    staff_id: int,
    address: str | None,
    **data: object,
) -> None:
    """The audit event of a staff member's change to a promotion."""
    audit.record(
        db,
        event,
        actor=audit.staff_actor(staff_id),
        address=address,
        promotion=promotion.id,
        **data,
    )


def _fields(promotion: Promotion) -> dict[str, object]:
    """The audited fields, as plain JSON values."""
    return {
        "title": promotion.title,
        "text": promotion.text,
        "starts_on": promotion.starts_on.isoformat(),
        "ends_on": promotion.ends_on.isoformat(),
        "tariff_ids": list(promotion.tariff_ids),
        "districts": list(promotion.districts),
        "action_service_id": promotion.action_service_id,
        "promo_price": promotion.promo_price,
        "promo_months": promotion.promo_months,
    }


def _apply(promotion: Promotion, draft: Draft) -> None:
    values = asdict(draft)
    values["tariff_ids"] = sorted(set(draft.tariff_ids))
    values["districts"] = sorted(set(draft.districts))
    for name, value in values.items():
        setattr(promotion, name, value)
    promotion.updated_at = clock.now()


def create(
    db: Session,
    draft: Draft,
    *,
    known_districts: tuple[str, ...],
    staff_id: int,
    address: str | None = None,
) -> Promotion:
    """A new draft."""
    check(db, draft, known_districts)
    promotion = Promotion(state=S.DRAFT, created_at=clock.now(), created_by=staff_id)
    _apply(promotion, draft)
    db.add(promotion)
    db.flush()
    after = _fields(promotion)
    record(db, CREATED, promotion, staff_id=staff_id, address=address, before={}, after=after)
    return promotion


def update(
    db: Session,
    promotion: Promotion,
    draft: Draft,
    *,
    known_districts: tuple[str, ...],
    staff_id: int,
    address: str | None = None,
) -> Promotion:
    """Change a draft (NotEditable once published)."""
    if promotion.state is not S.DRAFT:
        raise NotEditable(promotion.id)
    check(db, draft, known_districts)
    before = _fields(promotion)
    _apply(promotion, draft)
    db.flush()
    after = _fields(promotion)
    if before != after:
        changed = audit.changes(before, after)
        record(db, CHANGED, promotion, staff_id=staff_id, address=address, **changed)
    return promotion


def move(
    db: Session,
    promotion: Promotion,
    to: PromotionState,
    today: date,
    *,
    staff_id: int,
    address: str | None = None,
) -> Promotion:
    """Publish or withdraw; a promotion whose last day has passed is not published."""
    if to not in ALLOWED[promotion.state]:
        raise InvalidTransition(promotion.state, to)
    if to is S.PUBLISHED and promotion.ends_on < today:
        raise InvalidInput("ended")
    before = promotion.state
    promotion.state = to
    now = clock.now()
    if to is S.PUBLISHED:
        promotion.published_at = now
    else:
        promotion.withdrawn_at = now
    promotion.updated_at = now
    db.flush()
    changed = audit.changes({"state": before.value}, {"state": to.value})
    record(db, f"promotion.{to.value}", promotion, staff_id=staff_id, address=address, **changed)
    return promotion


# --- reading -----------------------------------------------------------------------------------


def for_staff(db: Session, promotion_id: int) -> Promotion:
    promotion = db.get(Promotion, promotion_id)
    if promotion is None:
        raise NotFound(f"promotion {promotion_id}")
    return promotion


def every(db: Session) -> list[Promotion]:
    """The console's list: drafts, then published, then withdrawn; the newest first."""
    order = sa.case({S.DRAFT.value: 0, S.PUBLISHED.value: 1}, value=Promotion.state, else_=2)
    return list(
        db.scalars(sa.select(Promotion).order_by(order, Promotion.starts_on.desc(), Promotion.id))
    )


def is_for(promotion: Promotion, tariff_ids: set[int], district: str) -> bool:
    """Whether an account with these tariffs in this district is in the audience."""
    if not promotion.tariff_ids and not promotion.districts:
        return True
    return bool(tariff_ids & set(promotion.tariff_ids)) or district in promotion.districts


def _audience_of(account: Account, today: date):
    tariffs = {t.id for t in catalog.connected(account, today).tariffs}
    return lambda promotion: is_for(promotion, tariffs, account.district)


@dataclass(frozen=True)
class Offers:
    current: list[Promotion]  # running today, the one ending soonest first
    coming: list[Promotion]  # starting later, the soonest first


def for_account(db: Session, account: Account, today: date) -> Offers:
    """The published promotions the account's holder sees today."""
    found = db.scalars(
        sa.select(Promotion)
        .where(Promotion.state == S.PUBLISHED, Promotion.ends_on >= today)
        .order_by(Promotion.starts_on, Promotion.ends_on, Promotion.id)
    ).all()
    includes = _audience_of(account, today)
    mine = [p for p in found if includes(p)]
    current = sorted((p for p in mine if p.starts_on <= today), key=lambda p: (p.ends_on, p.id))
    return Offers(current=current, coming=[p for p in mine if p.starts_on > today])


def seen_by(db: Session, account: Account, promotion_id: int, today: date) -> Promotion:
    """One promotion the account's holder sees today (running or coming); NotFound for a
    draft, a withdrawn or ended one, or one for other subscribers."""
    promotion = db.get(Promotion, promotion_id)
    if (
        promotion is None
        or promotion.state is not S.PUBLISHED
        or promotion.ends_on < today
        or not _audience_of(account, today)(promotion)
    ):
        raise NotFound(f"promotion {promotion_id}")
    return promotion


def audience(promotion: Promotion, today: date, *, after: int = 0) -> sa.Select:
    """The people in the audience today (one row each: person_id), by id, from the one
    after `after`."""
    query = sa.select(Account.person_id).distinct().where(Account.person_id > after)
    if promotion.tariff_ids or promotion.districts:
        either = []
        if promotion.tariff_ids:
            either.append(
                sa.exists().where(
                    Subscription.account_id == Account.id,
                    Subscription.tariff_id.in_(promotion.tariff_ids),
                    Subscription.started_on <= today,
                    sa.or_(Subscription.ended_on.is_(None), Subscription.ended_on >= today),
                )
            )
        if promotion.districts:
            either.append(Account.district.in_(promotion.districts))
        query = query.where(sa.or_(*either))
    return query.order_by(Account.person_id)


# --- the action at the promotional price ---------------------------------------------------------


@dataclass(frozen=True)
class PromoPrice:
    """What connecting the add-on through a promotion costs: `price` a month (kopecks)
    up to `until`, included, then the catalogue's; price None: the catalogue's only."""

    promotion: Promotion
    price: int | None
    until: date | None


def months_later(day: date, months: int) -> date:
    """The same day `months` months on (the month's last day where it has fewer)."""
    year, month = divmod(day.month - 1 + months, 12)
    first = date(day.year + year, month + 1, 1)
    return first.replace(day=min(day.day, days_in_month(first)))


def promo_price(
    db: Session, account: Account, promotion_id: int, addon_id: int, starts_on: date, today: date
) -> PromoPrice:
    """The price of connecting `addon_id` through the promotion today, for an add-on
    starting on `starts_on`: the promotional price lasts promo_months months from that
    day (what "3 months at 99 roubles" says), whatever the promotion's own end. Refused:
    "promotion_unknown" (none such, or not published for this account: a forged id
    learns nothing), "promotion_not_running" (ended or not begun), "promotion_other_addon"
    (its action is not this add-on), "promotion_taken" (the account took it already:
    disconnected and connected again, the promotional months would start over)."""
    promotion = db.get(Promotion, promotion_id)
    if (
        promotion is None
        or promotion.state is not S.PUBLISHED
        or not _audience_of(account, today)(promotion)
    ):
        raise Refused("promotion_unknown")
    if not promotion.starts_on <= today <= promotion.ends_on:
        raise Refused("promotion_not_running", ends_on=promotion.ends_on)
    if promotion.action_service_id != addon_id:
        raise Refused("promotion_other_addon")
    taken = sa.select(Subscription.id).where(
        Subscription.account_id == account.id, Subscription.promotion_id == promotion.id
    )
    if db.scalar(sa.select(taken.exists())):
        raise Refused("promotion_taken")
    if promotion.promo_price is None or promotion.promo_months is None:
        return PromoPrice(promotion, None, None)
    until = months_later(starts_on, promotion.promo_months) - timedelta(days=1)
    return PromoPrice(promotion, promotion.promo_price, until)


def connected_through(db: Session, promotion_id: int) -> int:
    """How many add-ons were connected through the promotion."""
    return (
        db.scalar(sa.select(sa.func.count()).where(Subscription.promotion_id == promotion_id)) or 0
    )
