"""The account's history as a subscriber reads it: the ledger, newest first, a page at a
time, grouped by the month an entry was booked in (the provider's time zone) with each
month's totals; a day's charges (one entry per tariff or add-on) shown as one line with
its parts; the last twelve months' figures for the picture; every entry of a filtered
view for the export.

Every query walks an index in the order it reads: the page ix_ledger_entries_account_id_id
(keyset on id, so a page costs the same at any depth and for any size of account), or
ix_ledger_entries_account_rare_kind_id when one kind but charges is shown (charges, most of
the ledger, walk the first with a filter); the months' totals and the
picture ix_ledger_entries_account_created (one month's range).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.orm import Bundle, Session, joinedload

from portal import clock
from portal.domain import paging
from portal.domain.errors import InvalidInput
from portal.models import EntryKind, LedgerEntry, Payment, PaymentMethod, Receipt, Refund

PAGE = 30
# How the ledger keys of subscriptions' daily charges begin (charges.charge_key, and its
# old shape).
SUBSCRIPTION_SHARE_KEY = "charge:"
# How far a page may grow past its size to keep a day's charges on one line (one entry
# per tariff and add-on of the account).
SPILL = 20
CHART_MONTHS = 12
# The periods a subscriber picks from: this month, three months, a year (whole months,
# today's included).
PERIOD_MONTHS = {"month": 1, "3m": 3, "12m": 12}


@dataclass(frozen=True)
class Filters:
    """What the history is narrowed to. `since`/`until` are UTC moments (from the
    provider's days: `bounds`); `kinds` None is every kind."""

    since: datetime | None = None
    until: datetime | None = None
    kinds: frozenset[EntryKind] | None = None


def month_start(day: date, back: int = 0) -> date:
    """The first day of `day`'s month, or of the month `back` months before it."""
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def next_month(month: date) -> date:
    return month_start(month, back=-1)


def period_days(period: str, today: date) -> tuple[date, date]:
    """The first and last day of a named period ending today."""
    if period not in PERIOD_MONTHS:
        raise InvalidInput(f"period {period!r}")
    return month_start(today, PERIOD_MONTHS[period] - 1), today


def bounds(first: date | None, last: date | None, *, tz: str) -> Filters:
    """Filters for the provider's days `first` to `last` (either end may be open)."""
    if first is not None and last is not None and first > last:
        raise InvalidInput("the first day is after the last")
    since = clock.local_day_bounds(first, tz=tz)[0] if first else None
    until = clock.local_day_bounds(last, tz=tz)[1] if last else None
    return Filters(since=since, until=until)


def month_of(moment: datetime, tz: str) -> date:
    """The month (its first day) a moment falls in where the provider is."""
    return clock.to_local(moment, tz).date().replace(day=1)


class Purpose(enum.StrEnum):
    """What an entry is for, as its ledger key tells (the key functions of each area
    write the shapes `_PURPOSES` reads; a key is never changed, so old entries read the
    same). The page draws its words from this in the reader's language: the words stored
    with an entry are Russian, and only names from the catalogue and a correction's
    reason among them are the provider's own."""

    MONTHLY_FEE = "monthly_fee"  # a subscription's share of a day (charges.charge_key)
    ONLINE_PAYMENT = "online_payment"  # settle.ledger_key
    REFUND = "refund"  # settle.refund_key
    PROMISED = "promised"  # promised.credit_key
    PROMISED_FEE = "promised_fee"  # promised.fee_key
    PROMISED_BACK = "promised_back"  # promised.back_key
    PAUSE_FEE = "pause_fee"  # suspension.activation_key
    PAUSE_FEE_BACK = "pause_fee_back"  # suspension.activation_back_key
    PAUSE_DAY_BACK = "pause_day_back"  # suspension.today_back_key
    PAUSED_DAY = "paused_day"  # suspension.fee_key
    TARIFF_CHANGE_FEE = "tariff_change_fee"  # tariff_change.fee_key
    TARIFF_CHANGE_FEE_BACK = "tariff_change_fee_back"  # tariff_change.fee_back_key
    TARIFF_CHANGE_DAY_BACK = "tariff_change_day_back"  # tariff_change.today_back_key
    CORRECTION = "correction"  # ledger.correct: the words are the staff's reason
    OTHER = "other"  # no shape the portal books: the stored words are all there is


_DAY = r"\d{4}-\d\d-\d\d"
_PURPOSES = [
    (EntryKind.CHARGE, re.compile(SUBSCRIPTION_SHARE_KEY + ".*"), Purpose.MONTHLY_FEE),
    (EntryKind.PAYMENT, re.compile(r"payment:\d+"), Purpose.ONLINE_PAYMENT),
    (EntryKind.REFUND, re.compile(r"refund:.+"), Purpose.REFUND),
    (EntryKind.CREDIT, re.compile(rf"promised:\d+:{_DAY}"), Purpose.PROMISED),
    (EntryKind.CHARGE, re.compile(rf"promised:\d+:{_DAY}:fee"), Purpose.PROMISED_FEE),
    (EntryKind.CHARGE, re.compile(r"promised:\d+:back"), Purpose.PROMISED_BACK),
    (EntryKind.CHARGE, re.compile(r"suspension:\d+:activation"), Purpose.PAUSE_FEE),
    (EntryKind.CREDIT, re.compile(r"suspension:\d+:activation:back"), Purpose.PAUSE_FEE_BACK),
    (EntryKind.CREDIT, re.compile(r"suspension:\d+:today_back"), Purpose.PAUSE_DAY_BACK),
    (EntryKind.CHARGE, re.compile(rf"suspension:\d+:{_DAY}"), Purpose.PAUSED_DAY),
    (EntryKind.CHARGE, re.compile(r"tariff_change:\d+:fee"), Purpose.TARIFF_CHANGE_FEE),
    (EntryKind.CREDIT, re.compile(r"tariff_change:\d+:fee_back"), Purpose.TARIFF_CHANGE_FEE_BACK),
    (EntryKind.CREDIT, re.compile(r"tariff_change:\d+:today"), Purpose.TARIFF_CHANGE_DAY_BACK),
]


def purpose_of(kind: EntryKind, key: str) -> Purpose:
    """What an entry of `kind` keyed `key` is for."""
    if kind is EntryKind.CORRECTION:
        return Purpose.CORRECTION
    for of_kind, shape, purpose in _PURPOSES:
        if kind is of_kind and shape.fullmatch(key):
            return purpose
    return Purpose.OTHER


@dataclass(frozen=True)
class Entry:
    """A ledger entry as a page of the history shows it: read as plain values, not as a
    LedgerEntry the session tracks (half the cost of a page's fifty rows)."""

    id: int
    kind: EntryKind
    amount: int  # kopecks
    description: str  # the words stored with it (Russian, or the provider's own)
    service_date: date | None
    created_at: datetime
    receipt_payment_id: int | None  # the payment whose receipt it has (a credited one)
    purpose: Purpose
    payment_method: PaymentMethod | None  # of the payment it credited (an online one)
    refunded_payment_id: int | None  # the payment it gives back (a refund tied to one)

    @classmethod
    def of(cls, entry: LedgerEntry) -> Entry:
        """A LedgerEntry read with its receipt's payment and its refund (the export's)."""
        receipt, refund = entry.receipt, entry.refund
        return cls(
            entry.id,
            entry.kind,
            entry.amount,
            entry.description,
            entry.service_date,
            entry.created_at,
            receipt.payment_id if receipt is not None else None,
            purpose_of(entry.kind, entry.idempotency_key),
            receipt.payment.method if receipt is not None else None,
            refund.payment_id if refund is not None else None,
        )


class _EntryRow(Bundle):
    """Makes each row of an Entry's columns (in its fields' order, the key in place of
    its purpose) an Entry."""

    def create_row_processor(self, query, procs, labels):
        def entry(row):
            values = [proc(row) for proc in procs]
            values[7] = purpose_of(values[1], values[7])
            return Entry(*values)

        return entry


_ENTRY = _EntryRow(
    "entry",
    LedgerEntry.id,
    LedgerEntry.kind,
    LedgerEntry.amount,
    LedgerEntry.description,
    LedgerEntry.service_date,
    LedgerEntry.created_at,
    Receipt.payment_id,
    LedgerEntry.idempotency_key,
    Payment.method,
    Refund.payment_id,
    single_entity=True,
)


@dataclass
class Line:
    kind: EntryKind
    # The day a monthly fee is for, else the provider's day it was booked (what else
    # carries a service date may have it in UTC: a promise taken back by a payment).
    when: date
    month: date  # the month it was booked in (its first day)
    amount: int  # kopecks, the sum of the parts
    entries: list[Entry] = field(default_factory=list)

    @property
    def is_daily_charges(self) -> bool:
        """The subscriptions' charges for a day ("Monthly fee for the day")."""
        return _is_daily_charge(self.entries[0])

    @property
    def receipt_payment_id(self) -> int | None:
        """The payment whose receipt this line links to (a credited online payment)."""
        return self.entries[0].receipt_payment_id


@dataclass(frozen=True)
class MonthTotals:
    month: date  # its first day
    paid: int  # payments, kopecks
    charged: int  # charges, kopecks, as a positive sum
    other: int  # credits, refunds and corrections together, signed
    closing: int  # the balance at the month's end (now, for the current month)
    entries: int  # how many entries were booked in it


@dataclass
class MonthGroup:
    month: date
    totals: MonthTotals | None = None
    lines: list[Line] = field(default_factory=list)
    continued: bool = False  # the previous page ended in this month (its heading is there)


@dataclass(frozen=True)
class Page:
    groups: list[MonthGroup]
    next_before: int | None  # the cursor of the next (older) page, None at the end

    @property
    def lines(self) -> list[Line]:
        return [line for group in self.groups for line in group.lines]


def page(
    db: Session,
    account_id: int,
    filters: Filters = Filters(),
    *,
    tz: str,
    before: int | None = None,
    size: int = PAGE,
    known: Mapping[date, MonthTotals] | None = None,
) -> Page:
    """About `size` entries older than id `before`, newest first, grouped by month with
    each month's totals, never splitting one day's charges. New entries (higher ids)
    never shift a later page: no entry is skipped or shown twice. `known`: totals already
    read (the picture's months), not read again."""
    rows, next_before = _newest(
        db,
        _PAGE_ROWS,
        account_id,
        filters,
        before=before,
        size=size,
        together=lambda newer, older: _one_line(newer, older, tz),
        spill=SPILL,
    )
    groups: list[MonthGroup] = []
    for line in _lines(rows, tz):
        if not groups or groups[-1].month != line.month:
            groups.append(MonthGroup(line.month))
        groups[-1].lines.append(line)
    known = {month: totals for month, totals in (known or {}).items() if totals.entries}
    missing = [g.month for g in groups if g.month not in known]
    totals = known | month_totals(db, account_id, missing, tz=tz)
    for group in groups:
        group.totals = totals[group.month]
    if groups and before is not None:
        groups[0].continued = _month_of_entry(db, account_id, before, tz) == groups[0].month
    return Page(groups, next_before)


def entries(
    db: Session, account_id: int, filters: Filters, *, batch: int = 500
) -> Iterator[LedgerEntry]:
    """Every entry the filters let through, newest first, read a batch at a time (the
    export of a long history never holds all of it)."""
    before = None
    while True:
        rows, before = _newest(db, _EXPORT_ROWS, account_id, filters, before=before, size=batch)
        yield from rows
        for row in rows:  # read and written: the session need not keep them
            if row.receipt is not None:
                db.expunge(row.receipt.payment)
                db.expunge(row.receipt)
            if row.refund is not None:
                db.expunge(row.refund)
            db.expunge(row)
        if before is None:
            return


def month_totals(
    db: Session, account_id: int, months: list[date], *, tz: str
) -> dict[date, MonthTotals]:
    """Each month's totals (months given by their first day): two queries, whatever the
    months. A month without entries is absent from the answer."""
    if not months:
        return {}
    months = sorted(set(months))
    runs = _runs(months, tz)
    edges = {f"lo{i}": _utc_start(m, tz) for i, m in enumerate(months)}
    edges |= {f"hi{i}": _utc_start(next_month(m), tz) for i, m in enumerate(months)}
    edges |= {f"from{i}": lo for i, (lo, _) in enumerate(runs)}
    edges |= {f"to{i}": hi for i, (_, hi) in enumerate(runs)}
    query = _totals_by_month_and_kind(len(months), len(runs))
    found = db.execute(query, {"account_id": account_id, **edges}).all()
    sums: dict[int, dict] = {}
    for i, kind, total, count, last_id in found:
        if i < 0:
            continue
        month = sums.setdefault(i, {"by_kind": {}, "count": 0, "last": 0})
        month["by_kind"][kind] = int(total)
        month["count"] += count
        month["last"] = max(month["last"], last_id)
    closing = dict(
        db.execute(
            sa.select(LedgerEntry.id, LedgerEntry.balance_after).where(
                LedgerEntry.id.in_([m["last"] for m in sums.values()])
            )
        ).all()
    )
    answer = {}
    for i, month in sums.items():
        by_kind = month["by_kind"]
        paid = by_kind.get(EntryKind.PAYMENT, 0)
        charged = -by_kind.get(EntryKind.CHARGE, 0)
        answer[months[i]] = MonthTotals(
            month=months[i],
            paid=paid,
            charged=charged,
            other=sum(by_kind.values()) - paid + charged,
            closing=closing[month["last"]],
            entries=month["count"],
        )
    return answer


def last_months(
    db: Session, account_id: int, today: date, *, tz: str, count: int = CHART_MONTHS
) -> list[MonthTotals]:
    """The picture's months: up to `count` months ending with today's, from the first
    month the account has entries in (none at all: an empty list). A month without
    entries shows nothing paid or charged and the balance it inherited."""
    months = [month_start(today, back) for back in range(count - 1, -1, -1)]
    found = month_totals(db, account_id, months, tz=tz)
    opening = db.scalar(
        sa.select(LedgerEntry.balance_after)
        .where(
            LedgerEntry.account_id == account_id,
            LedgerEntry.created_at < _utc_start(months[0], tz),
        )
        .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
        .limit(1)
    )
    if opening is None:  # nothing before the window: start at its first month with entries
        months = months[next((i for i, m in enumerate(months) if m in found), len(months)) :]
    figures, balance = [], opening or 0
    for month in months:
        totals = found.get(month) or MonthTotals(month, 0, 0, 0, balance, 0)
        balance = totals.closing
        figures.append(totals)
    return figures


# What a page reads (plain Entry values, with the receipt's payment) and what the export
# reads (the entries themselves, each with its receipt).
_PAGE_ROWS = (
    sa.select(_ENTRY)
    .select_from(LedgerEntry)
    .outerjoin(LedgerEntry.receipt)
    .outerjoin(Payment, Payment.id == Receipt.payment_id)
    .outerjoin(LedgerEntry.refund)
)
_EXPORT_ROWS = sa.select(LedgerEntry).options(
    joinedload(LedgerEntry.receipt).joinedload(Receipt.payment), joinedload(LedgerEntry.refund)
)


def _newest(db: Session, rows: sa.Select, account_id: int, filters: Filters, **paging_args):
    """A keyset page of the account's filtered entries read as `rows` reads them."""
    query = rows.where(LedgerEntry.account_id == account_id)
    if filters.kinds and len(filters.kinds) == 1:
        # An equality, not IN: the page then walks ix_ledger_entries_account_rare_kind_id
        # in id order (IN would merge several runs of it and sort them).
        query = query.where(LedgerEntry.kind == next(iter(filters.kinds)))
    elif filters.kinds:
        query = query.where(LedgerEntry.kind.in_(sorted(filters.kinds)))
    if filters.kinds and EntryKind.CHARGE not in filters.kinds:
        # Implied by the kinds, but SQLite takes a partial index only when the query
        # states the index's condition itself, with the value in the SQL (not bound).
        query = query.where(LedgerEntry.kind != sa.literal_column(f"'{EntryKind.CHARGE}'"))
    return paging.newest_first(
        db, query, LedgerEntry, since=filters.since, until=filters.until, **paging_args
    )


def _lines(entries: list[Entry], tz: str) -> list[Line]:
    lines: list[Line] = []
    for entry in entries:
        last = lines[-1] if lines else None
        if last is not None and _one_line(last.entries[-1], entry, tz):
            last.entries.append(entry)
            last.amount += entry.amount
            continue
        local = clock.to_local(entry.created_at, tz).date()
        when = entry.service_date if _is_daily_charge(entry) else local
        lines.append(Line(entry.kind, when, local.replace(day=1), entry.amount, [entry]))
    return lines


def _one_line(newer: Entry, older: Entry, tz: str) -> bool:
    """Two neighbouring entries are one line: subscriptions' charges for the same day,
    booked in the same month (billing posts a day's charges together)."""
    return (
        _is_daily_charge(newer)
        and _is_daily_charge(older)
        and newer.service_date == older.service_date
        and month_of(newer.created_at, tz) == month_of(older.created_at, tz)
    )


def _is_daily_charge(entry: Entry) -> bool:
    """A subscription's share of a day. The run writes a promised payment's credit taken
    back and a suspension's daily fee with the day's charges, and a promise or a tariff
    change charges its fee for the day: none of them is the monthly fee."""
    return entry.purpose is Purpose.MONTHLY_FEE and entry.service_date is not None


def _month_of_entry(db: Session, account_id: int, entry_id: int, tz: str) -> date | None:
    """The month the entry a page continues after was booked in (its heading is shown)."""
    moment = db.scalar(
        sa.select(LedgerEntry.created_at).where(
            LedgerEntry.id == entry_id, LedgerEntry.account_id == account_id
        )
    )
    return month_of(moment, tz) if moment is not None else None


@lru_cache(maxsize=512)
def _utc_start(month: date, tz: str) -> datetime:
    return clock.local_day_bounds(month, tz=tz)[0]


def _runs(months: list[date], tz: str) -> list[tuple[datetime, datetime]]:
    """Sorted months as UTC ranges, neighbouring months joined into one range."""
    runs: list[list[date]] = []
    for month in months:
        if runs and next_month(runs[-1][1]) == month:
            runs[-1][1] = month
        else:
            runs.append([month, month])
    return [(_utc_start(first, tz), _utc_start(next_month(last), tz)) for first, last in runs]


# Shapes of month_totals' query: the chart's twelve months in one run, and a page's few.
@lru_cache(maxsize=64)
def _totals_by_month_and_kind(months: int, runs: int) -> sa.Select:
    """month_totals' query for `months` months read as `runs` ranges, every edge a bound
    parameter (lo<i>/hi<i> a month's, from<i>/to<i> a range's, account_id): built once per
    shape, as building its two dozen comparisons cost more than running it. Each row: the
    month's index (-1 outside every month), a kind, its sum, count and last entry id."""
    created = LedgerEntry.created_at

    def between(lo: str, hi: str):
        return sa.and_(created >= sa.bindparam(lo), created < sa.bindparam(hi))

    bucket = sa.case(*((between(f"lo{i}", f"hi{i}"), i) for i in range(months)), else_=-1)
    bucket = bucket.label("bucket")
    within = sa.or_(*(between(f"from{i}", f"to{i}") for i in range(runs)))
    return (
        sa.select(
            bucket,
            LedgerEntry.kind,
            sa.func.sum(LedgerEntry.amount),
            sa.func.count(),
            sa.func.max(LedgerEntry.id),
        )
        .where(LedgerEntry.account_id == sa.bindparam("account_id"), within)
        .group_by(bucket, LedgerEntry.kind)
    )
