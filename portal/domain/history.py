"""The account's history as a subscriber reads it: the ledger, newest first, with a
day's charges (one entry per tariff or add-on) shown as one line with its parts."""

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.models import EntryKind, LedgerEntry


@dataclass
class Line:
    kind: EntryKind
    when: date
    amount: int  # kopecks, the sum of the parts
    entries: list[LedgerEntry] = field(default_factory=list)

    @property
    def is_daily_charges(self) -> bool:
        return self.kind is EntryKind.CHARGE and self.entries[0].service_date is not None


@dataclass(frozen=True)
class Page:
    lines: list[Line]
    next_before: int | None  # the cursor of the next (older) page, None at the end


def page(db: Session, account_id: int, *, size: int = 30, before_id: int | None = None) -> Page:
    """About `size` entries, newest first, never splitting one day's charges."""
    entries = _newest(db, account_id, size + 1, before_id)
    more = len(entries) > size
    entries = entries[:size]
    if more and entries and _is_daily_charge(entries[-1]):
        # The rest of that day's charges join this page, so the day is one line.
        entries += _rest_of_day(db, account_id, entries[-1])
        more = _newest(db, account_id, 1, entries[-1].id) != []
    return Page(_lines(entries), entries[-1].id if more else None)


def _lines(entries: list[LedgerEntry]) -> list[Line]:
    lines: list[Line] = []
    for entry in entries:
        last = lines[-1] if lines else None
        if (
            last is not None
            and last.is_daily_charges
            and _is_daily_charge(entry)
            and entry.service_date == last.when
        ):
            last.entries.append(entry)
            last.amount += entry.amount
            continue
        when = entry.service_date or entry.created_at.date()
        lines.append(Line(entry.kind, when, entry.amount, [entry]))
    return lines


def _is_daily_charge(entry: LedgerEntry) -> bool:
    return entry.kind is EntryKind.CHARGE and entry.service_date is not None


def _newest(db: Session, account_id: int, limit: int, before_id: int | None):
    query = sa.select(LedgerEntry).where(LedgerEntry.account_id == account_id)
    if before_id is not None:
        query = query.where(LedgerEntry.id < before_id)
    return list(db.scalars(query.order_by(LedgerEntry.id.desc()).limit(limit)))


def _rest_of_day(db: Session, account_id: int, last: LedgerEntry) -> list[LedgerEntry]:
    """The entries just older than `last` that are charges of the same day (they follow
    one another: billing posts a day's charges together)."""
    taken: list[LedgerEntry] = []
    cursor = last
    while True:
        batch = _newest(db, account_id, 20, cursor.id)
        for entry in batch:
            if not (_is_daily_charge(entry) and entry.service_date == last.service_date):
                return taken
            taken.append(entry)
            cursor = entry
        if len(batch) < 20:
            return taken
