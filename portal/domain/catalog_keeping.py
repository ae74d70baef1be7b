"""Keeping the catalogue: the staff create, edit, archive and unarchive tariff groups,
tariffs and add-ons here, and nowhere else.

Each function takes what the staff typed (text, as the form sent it), checks every field
and raises `Invalid` naming each field it cannot accept (all of them at once, so the form
shows them together), or writes the change with one audit event holding the changed
fields `before` and `after`. Nothing is written when anything is refused.

What keeps the catalogue coherent:
- codes are lower case and unique within their table (imports and the shell name
  tariffs and add-ons by code, in any case);
- a tariff's kind and a group's kind are fixed at creation (subscribers hold a tariff as
  their internet or their TV); a tariff's group has its kind (the database holds that too);
- an archived group holds only archived tariffs: a group is archived after its tariffs,
  and a tariff is not created in, moved to or unarchived in an archived group;
- an add-on excludes others, never itself; what it newly requires is not archived.
Archiving never touches a subscription: whoever has an archived item keeps it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit
from portal.domain.catalog import excluded, is_archived
from portal.domain.errors import DomainError, InvalidInput
from portal.domain.payments import amounts
from portal.domain.payments.errors import AmountError, AmountMissing, AmountTooLarge
from portal.models import (
    AddonStart,
    Service,
    Subscription,
    TakesEffect,
    Tariff,
    TariffGroup,
    TariffKind,
)

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
NAME_MAX = 100
DESCRIPTION_MAX = 500
PRICE_MAX = 1_000_000_00  # a monthly price or a fee, kopecks: a million roubles
SPEED_MAX = 100_000  # Mbit/s
CHANNELS_MAX = 10_000
CHANGES_MAX = 31  # changes of tariff a month

Item = TariffGroup | Tariff | Service


class Invalid(InvalidInput):
    """What the staff typed breaks the catalogue's rules: `problems` maps each field to
    the code of its problem (the form words it)."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(", ".join(f"{name}: {code}" for name, code in problems.items()))
        self.problems = problems


class Refused(DomainError):
    """Archiving or unarchiving refused: `why` is the rule's code, `names` what is in
    the way (the group's live tariffs, the archived requirement)."""

    def __init__(self, why: str, names: list[str] | tuple[str, ...] = ()):
        super().__init__(why)
        self.why = why
        self.names = tuple(names)


# --- what the staff typed ------------------------------------------------------------


@dataclass(frozen=True)
class GroupInput:
    code: str
    name: str
    kind: str  # read at creation only
    fee_up: str = "0"
    fee_down: str = "0"
    fee_same: str = "0"
    changes_per_month: str = ""  # empty: no limit


@dataclass(frozen=True)
class TariffInput:
    code: str
    name: str
    kind: str  # read at creation only
    monthly_price: str
    description: str = ""
    group: str = ""  # a group's id, empty for none
    speed_mbps: str = ""
    channels: str = ""
    takes_effect: str = TakesEffect.NEXT_MONTH.value


@dataclass(frozen=True)
class AddonInput:
    code: str
    name: str
    monthly_price: str
    description: str = ""
    starts: str = AddonStart.TOMORROW.value
    requires: str = ""  # "", "group:<id>" or "tariff:<id>"
    excludes: tuple[str, ...] = field(default_factory=tuple)  # add-ons' ids


class _Checker:
    """Reads fields one by one, noting each problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: dict[str, str] = {}

    def fail(self, name: str, code: str) -> None:
        self.problems.setdefault(name, code)

    def done(self) -> None:
        if self.problems:
            raise Invalid(self.problems)

    def text(self, name: str, value: str, maximum: int, *, required: bool = True) -> str:
        value = (value or "").strip()
        if required and not value:
            self.fail(name, "required")
        elif len(value) > maximum:
            self.fail(name, "too_long")
        elif any(ord(ch) < 32 or 127 <= ord(ch) < 160 or ch == "\ufffd" for ch in value):
            self.fail(name, "unprintable")
        return value

    def code(self, db: Session, model: type[Item], value: str, item: Item | None) -> str:
        code = (value or "").strip().lower()
        if not code:
            self.fail("code", "required")
        elif not CODE_RE.match(code):
            self.fail("code", "code")
        else:
            query = sa.select(model.id).where(sa.func.lower(model.code) == code)
            if item is not None:
                query = query.where(model.id != item.id)
            if db.scalar(query) is not None:
                self.fail("code", "code_taken")
        return code

    def money(self, name: str, value: str) -> int:
        try:
            return amounts.parse_amount(value, minimum=0, maximum=PRICE_MAX)
        except AmountMissing:
            self.fail(name, "required")
        except AmountTooLarge:
            self.fail(name, "too_large")
        except AmountError:
            self.fail(name, "money")
        return 0

    def number(self, name: str, value: str, maximum: int, *, required: bool) -> int | None:
        text = (value or "").strip()
        if not text:
            if required:
                self.fail(name, "required")
            return None
        if not (text.isascii() and text.isdigit() and len(text) <= 7):
            self.fail(name, "number")
            return None
        number = int(text)
        if not 1 <= number <= maximum:
            self.fail(name, "number")
            return None
        return number

    def choice(self, name: str, enum_type, value: str, current=None):
        """A member of `enum_type` by its value; an unknown one is a problem."""
        try:
            return enum_type((value or "").strip())
        except ValueError:
            self.fail(name, "choice")
            return current


# The largest id column value (PostgreSQL's `integer`): a larger number sent to the
# database is an error there, not an empty answer (portal.web.ids says the same for URLs).
_MAX_ID = 2**31 - 1


def _row_id(text: str) -> int | None:
    """A row's id as a form sends it, or None for anything else (a forged value)."""
    text = (text or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= len(str(_MAX_ID)):
        value = int(text)
        return value if 1 <= value <= _MAX_ID else None
    return None


# --- groups --------------------------------------------------------------------------


def _group_fields(db: Session, typed: GroupInput, group: TariffGroup | None) -> dict:
    check = _Checker()
    fields = {
        "code": check.code(db, TariffGroup, typed.code, group),
        "name": check.text("name", typed.name, NAME_MAX),
        "fee_up": check.money("fee_up", typed.fee_up),
        "fee_down": check.money("fee_down", typed.fee_down),
        "fee_same": check.money("fee_same", typed.fee_same),
        "changes_per_month": check.number(
            "changes_per_month", typed.changes_per_month, CHANGES_MAX, required=False
        ),
    }
    if group is None:
        fields["kind"] = check.choice("kind", TariffKind, typed.kind)
    check.done()
    return fields


def create_group(db: Session, typed: GroupInput, *, actor: str, address: str | None):
    """A new tariff group."""
    fields = _group_fields(db, typed, None)
    return _create(db, TariffGroup(), fields, "catalog.group_created", actor, address)


def update_group(
    db: Session, group: TariffGroup, typed: GroupInput, *, actor: str, address: str | None
) -> list[str]:
    """Change a group; the names of the fields that changed (none: nothing written)."""
    fields = _group_fields(db, typed, group)
    return _update(db, group, fields, "catalog.group_changed", actor, address)


# --- tariffs -------------------------------------------------------------------------


def _sold_fields(check: _Checker, db: Session, model, typed, item) -> dict:
    """What a tariff and an add-on (`model`) both have: a code, a name, a description, a
    monthly price."""
    return {
        "code": check.code(db, model, typed.code, item),
        "name": check.text("name", typed.name, NAME_MAX),
        "description": check.text(
            "description", typed.description, DESCRIPTION_MAX, required=False
        ),
        "monthly_price": check.money("monthly_price", typed.monthly_price),
    }


def _tariff_fields(db: Session, typed: TariffInput, tariff: Tariff | None) -> dict:
    check = _Checker()
    kind = tariff.kind if tariff is not None else check.choice("kind", TariffKind, typed.kind)
    fields = {
        **_sold_fields(check, db, Tariff, typed, tariff),
        "takes_effect": check.choice("takes_effect", TakesEffect, typed.takes_effect),
        "speed_mbps": None,
        "channels": None,
        "group_id": None,
    }
    # Internet is sold by speed, TV by channels; the other number stays empty.
    wanted, unwanted, maximum = {
        TariffKind.INTERNET: ("speed_mbps", "channels", SPEED_MAX),
        TariffKind.TV: ("channels", "speed_mbps", CHANNELS_MAX),
        None: (None, None, 0),
    }[kind]
    if wanted is not None:
        fields[wanted] = check.number(wanted, getattr(typed, wanted), maximum, required=True)
        if (getattr(typed, unwanted) or "").strip():
            check.fail(unwanted, "not_for_kind")
    if kind is None:
        check.fail("kind", "choice")
    if (typed.group or "").strip():
        group_id = _row_id(typed.group)
        group = db.get(TariffGroup, group_id) if group_id is not None else None
        if group is None:
            check.fail("group", "unknown")
        elif kind is not None and group.kind != kind:
            check.fail("group", "group_kind")
        elif is_archived(group) and (tariff is None or not is_archived(tariff)):
            # A live tariff in an archived group would be offered from a group that is not.
            check.fail("group", "group_archived")
        else:
            fields["group_id"] = group.id
    if tariff is None:
        fields["kind"] = kind
    check.done()
    return fields


def create_tariff(db: Session, typed: TariffInput, *, actor: str, address: str | None) -> Tariff:
    """A new tariff, offered at once."""
    fields = _tariff_fields(db, typed, None)
    return _create(db, Tariff(), fields, "catalog.tariff_created", actor, address)


def update_tariff(
    db: Session, tariff: Tariff, typed: TariffInput, *, actor: str, address: str | None
) -> list[str]:
    """Change a tariff (a new price is charged to whoever has it from the next day's
    charge on); the names of the fields that changed."""
    fields = _tariff_fields(db, typed, tariff)
    return _update(db, tariff, fields, "catalog.tariff_changed", actor, address)


# --- add-ons -------------------------------------------------------------------------


def _addon_fields(db: Session, typed: AddonInput, addon: Service | None) -> dict:
    check = _Checker()
    fields = {
        **_sold_fields(check, db, Service, typed, addon),
        "starts": check.choice("starts", AddonStart, typed.starts),
        "requires_group_id": None,
        "requires_tariff_id": None,
    }
    requires = (typed.requires or "").strip()
    if requires:
        what, _, number = requires.partition(":")
        model, column = {
            "group": (TariffGroup, "requires_group_id"),
            "tariff": (Tariff, "requires_tariff_id"),
        }.get(what, (None, None))
        row_id = _row_id(number)
        required = db.get(model, row_id) if model is not None and row_id is not None else None
        if required is None:
            check.fail("requires", "unknown")
        else:
            unchanged = addon is not None and getattr(addon, column) == required.id
            if is_archived(required) and not unchanged:
                check.fail("requires", "requirement_archived")
            fields[column] = required.id
    others = []
    for text in dict.fromkeys(typed.excludes or ()):
        other_id = _row_id(text)
        other = db.get(Service, other_id) if other_id is not None else None
        if other is None:
            check.fail("excludes", "unknown")
        elif addon is not None and other.id == addon.id:
            check.fail("excludes", "self")
        else:
            others.append(other)
    fields["excludes"] = others
    check.done()
    return fields


def create_addon(db: Session, typed: AddonInput, *, actor: str, address: str | None) -> Service:
    """A new add-on, offered at once."""
    fields = _addon_fields(db, typed, None)
    others = fields.pop("excludes")
    return _create(db, Service(), fields, "catalog.addon_created", actor, address, others)


def update_addon(
    db: Session, addon: Service, typed: AddonInput, *, actor: str, address: str | None
) -> list[str]:
    """Change an add-on and whom it excludes; the names of the fields that changed."""
    fields = _addon_fields(db, typed, addon)
    others = fields.pop("excludes")
    old = sorted(o.id for o in excluded(addon))
    new = sorted(o.id for o in others)
    if old == new:
        return _update(db, addon, fields, "catalog.addon_changed", actor, address)
    set_exclusions(addon, others)
    extra = ({"excludes": old}, {"excludes": new})
    return _update(db, addon, fields, "catalog.addon_changed", actor, address, extra)


def set_exclusions(addon: Service, others: list[Service]) -> None:
    """Store each exclusion once, on the row with the smaller id."""
    addon.excludes_later = [o for o in others if o.id > addon.id]
    addon.excludes_earlier = [o for o in others if o.id < addon.id]


# --- archive -------------------------------------------------------------------------

_NAMES = {TariffGroup: "group", Tariff: "tariff", Service: "addon"}


def archive(db: Session, item: Item, *, actor: str, address: str | None) -> bool:
    """Stop offering `item`; whoever has it keeps it. False when it was archived already.
    A group is archived after its tariffs (Refused names the ones still offered)."""
    if is_archived(item):
        return False
    if isinstance(item, TariffGroup):
        live = [t.name for t in item.tariffs if not is_archived(t)]
        if live:
            raise Refused("group_has_tariffs", live)
    return _set_archived(db, item, clock.now(), actor, address)


def unarchive(db: Session, item: Item, *, actor: str, address: str | None) -> bool:
    """Offer `item` again; False when it was not archived. A tariff of an archived group,
    or an add-on that requires an archived group or tariff, stays archived (Refused)."""
    if not is_archived(item):
        return False
    if isinstance(item, Tariff) and item.group is not None and is_archived(item.group):
        raise Refused("group_archived", [item.group.name])
    if isinstance(item, Service):
        required = item.requires_group or item.requires_tariff
        if required is not None and is_archived(required):
            raise Refused("requirement_archived", [required.name])
    return _set_archived(db, item, None, actor, address)


def _set_archived(db, item: Item, moment, actor: str, address: str | None) -> bool:
    before = {"archived_at": _plain_value(item.archived_at)}
    item.archived_at = moment
    event = f"catalog.{_NAMES[type(item)]}_{'archived' if moment else 'unarchived'}"
    _record(db, event, item, actor, address, before, {"archived_at": _plain_value(moment)})
    db.flush()
    return True


# --- what the console lists ----------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    """The whole catalogue for the console, and how many accounts have each item today."""

    groups: list[TariffGroup]  # by kind, then name
    tariffs: list[Tariff]  # by kind, then price
    addons: list[Service]  # by name
    tariff_holders: dict[int, int]  # tariff id -> accounts
    addon_holders: dict[int, int]
    group_holders: dict[int, int]

    def tariffs_of(self, kind: TariffKind, group: TariffGroup | None) -> list[Tariff]:
        """The tariffs of a kind in `group` (None: in no group)."""
        group_id = group.id if group is not None else None
        return [t for t in self.tariffs if t.kind is kind and t.group_id == group_id]

    def groups_of(self, kind: TariffKind) -> list[TariffGroup]:
        return [g for g in self.groups if g.kind is kind]


def overview(db: Session, today: date) -> Overview:
    """Every group, tariff and add-on, archived ones too, with their holders on `today`."""
    groups = list(db.scalars(sa.select(TariffGroup).order_by(TariffGroup.kind, TariffGroup.name)))
    tariffs = list(
        db.scalars(sa.select(Tariff).order_by(Tariff.kind, Tariff.monthly_price, Tariff.name))
    )
    addons = list(db.scalars(sa.select(Service).order_by(Service.name, Service.id)))
    running = sa.and_(
        Subscription.started_on <= today,
        sa.or_(Subscription.ended_on.is_(None), Subscription.ended_on >= today),
    )
    accounts = sa.func.count(sa.distinct(Subscription.account_id))

    def holders(column) -> dict[int, int]:
        query = sa.select(column, accounts).where(running, column.is_not(None)).group_by(column)
        return {item_id: count for item_id, count in db.execute(query)}

    by_group = (
        sa.select(Tariff.group_id, accounts)
        .join(Subscription, Subscription.tariff_id == Tariff.id)
        .where(running, Tariff.group_id.is_not(None))
        .group_by(Tariff.group_id)
    )
    return Overview(
        groups=groups,
        tariffs=tariffs,
        addons=addons,
        tariff_holders=holders(Subscription.tariff_id),
        addon_holders=holders(Subscription.service_id),
        group_holders={group_id: count for group_id, count in db.execute(by_group)},
    )


def offered_groups(db: Session) -> list[TariffGroup]:
    """The groups a tariff may be put in or an add-on may require: not archived."""
    query = sa.select(TariffGroup).where(TariffGroup.archived_at.is_(None))
    return list(db.scalars(query.order_by(TariffGroup.kind, TariffGroup.name)))


# --- writing and auditing ------------------------------------------------------------


# A reference typed as an id, and the relationship that holds it (set through the
# relationship, so the rows already loaded see the change at once).
_REFERENCES = {
    "group_id": ("group", TariffGroup),
    "requires_group_id": ("requires_group", TariffGroup),
    "requires_tariff_id": ("requires_tariff", Tariff),
}


def _assign(db: Session, item: Item, name: str, value) -> None:
    if name in _REFERENCES:
        relationship, model = _REFERENCES[name]
        setattr(item, relationship, db.get(model, value) if value is not None else None)
    else:
        setattr(item, name, value)


def _create(db: Session, item, fields: dict, event: str, actor, address, excludes=None):
    """Insert the new item with its fields (and an add-on's exclusions); one audit event
    with every field after."""
    with db.no_autoflush:  # not before every field is there
        db.add(item)
        for name, value in fields.items():
            _assign(db, item, name, value)
    _flush_or_taken(db)
    after = _plain(fields)
    if excludes is not None:
        set_exclusions(item, excludes)
        after["excludes"] = sorted(other.id for other in excludes)
    _record(db, event, item, actor, address, {}, after)
    return item


def _flush_or_taken(db: Session) -> None:
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError as exc:
        # Another member took the code between the check and the write.
        raise Invalid({"code": "code_taken"}) from exc


def _update(db, item: Item, fields: dict, event: str, actor, address, extra=({}, {})) -> list[str]:
    """Apply the fields that differ; one audit event with them before and after."""
    before, after = dict(extra[0]), dict(extra[1])
    for name, value in fields.items():
        old = getattr(item, name)
        if old != value:
            before[name], after[name] = _plain_value(old), _plain_value(value)
            _assign(db, item, name, value)
    if before:
        _flush_or_taken(db)
        _record(db, event, item, actor, address, before, after)
    return list(after)


def _record(db, event: str, item: Item, actor: str, address, before: dict, after: dict) -> None:
    db.flush()  # the new item's id
    audit.record(
        db,
        event,
        actor=actor,
        address=address,
        item_id=item.id,
        code=item.code,
        before=before,
        after=after,
    )


def _plain(fields: dict) -> dict:
    return {name: _plain_value(value) for name, value in fields.items()}


def _plain_value(value):
    """A value as JSON keeps it: enums by value, moments in ISO 8601."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, TariffKind | TakesEffect | AddonStart):
        return value.value
    return value
