"""The schedule of visit windows: a weekly template per district, concrete windows for
dates, and the places taken in them.

A window's `booked` moves only here, by one conditional UPDATE each way:

    UPDATE visit_windows SET booked = booked + 1 WHERE id = ? AND booked < capacity

Two subscribers who take the last place at the same moment both send it; PostgreSQL
makes the second wait for the first's row lock and then evaluates its WHERE again on
the row the first committed, so one of them changes no row (rowcount 0: WindowFull).
SQLite has one writer at a time, which serialises them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit
from portal.domain.errors import InvalidInput
from portal.domain.visits.errors import (
    WindowBeyondHorizon,
    WindowFull,
    WindowPast,
    WindowUnavailable,
)
from portal.domain.visits.policy import VisitPolicy
from portal.models import VisitWindow, VisitWindowTemplate

CAPACITY_MAX = 100


@dataclass(frozen=True)
class Slot:
    """A window of a day as the schedule offers it (a concrete row or the template)."""

    district: str
    day: date
    starts: time
    ends: time
    capacity: int
    booked: int
    starts_at: datetime  # UTC

    @property
    def free(self) -> int:
        return max(self.capacity - self.booked, 0)

    @property
    def key(self) -> str:
        """How a form names the slot: its local day and start, 2026-12-01T09:00."""
        return f"{self.day.isoformat()}T{self.starts.strftime('%H:%M')}"


def parse_key(key: str) -> tuple[date, time]:
    """A slot key back to its day and start; InvalidInput if it is not one."""
    text = (key or "").strip()
    try:
        day_text, time_text = text.split("T")
        if len(day_text) != 10 or len(time_text) != 5:
            raise ValueError
        return date.fromisoformat(day_text), time.fromisoformat(time_text)
    except ValueError:
        raise InvalidInput("window") from None


def check_district(district: str, districts: tuple[str, ...]) -> str:
    if district not in districts:
        raise InvalidInput("district")
    return district


# --- the weekly template and the exceptions --------------------------------------------


def set_template(
    db: Session,
    district: str,
    weekday: int,
    starts: time,
    ends: time,
    capacity: int,
    *,
    actor: str = "system",
    address: str | None = None,
    today: date | None = None,
) -> VisitWindowTemplate:
    """Add or change a weekday's window of a district (capacity 0 takes it out of the
    week); an audit event says what changed. Given `today` (the console does), the
    change also reaches that weekday's dates from today on that follow the template (see
    `_follow_template`)."""
    _check_window(weekday, starts, ends, capacity)
    row = db.scalar(
        sa.select(VisitWindowTemplate).filter_by(district=district, weekday=weekday, starts=starts)
    )
    before = {} if row is None else {"ends": row.ends.isoformat(), "capacity": row.capacity}
    if row is None:
        row = VisitWindowTemplate(district=district, weekday=weekday, starts=starts)
        db.add(row)
    row.ends, row.capacity = ends, capacity
    db.flush()
    followed = _follow_template(db, row, today) if today is not None else 0
    after = {"ends": ends.isoformat(), "capacity": capacity}
    _audit(
        db,
        "visit_template.set",
        before,
        after,
        actor,
        address,
        weekday=weekday,
        district=district,
        starts=starts.isoformat(),
        dates=followed,
    )
    return row


def _follow_template(db: Session, template: VisitWindowTemplate, today: date) -> int:
    """The template's dates from `today` on that already have a row (a booking made one)
    and were not set apart take its places, never fewer than those booked (the visits
    stay); a date with a booking keeps its hours, as agreed with those booked, one with
    none takes the new hours. One UPDATE, so a booking at the same moment is counted.
    How many dates changed."""
    rows = db.execute(
        sa.select(VisitWindow.id, VisitWindow.day).where(
            VisitWindow.district == template.district,
            VisitWindow.starts == template.starts,
            VisitWindow.day >= today,
            VisitWindow.set_apart.is_(False),
        )
    )
    ids = [id_ for id_, day in rows if day.weekday() == template.weekday]
    if not ids:
        return 0
    booked = VisitWindow.booked
    db.execute(
        sa.update(VisitWindow)
        .where(VisitWindow.id.in_(ids))
        .values(
            capacity=sa.case((booked > template.capacity, booked), else_=template.capacity),
            ends=sa.case((booked > 0, VisitWindow.ends), else_=template.ends),
        )
        .execution_options(synchronize_session=False)
    )
    return len(ids)


def set_day_window(
    db: Session,
    district: str,
    day: date,
    starts: time,
    ends: time,
    capacity: int,
    *,
    actor: str = "system",
    address: str | None = None,
    today: date | None = None,
) -> VisitWindow:
    """An exception for one date (a holiday: capacity 0, or an extra window). The
    capacity never goes below the places already booked. Given `today` (the console
    does), a date before it is refused: no one books a window gone by."""
    if today is not None and day < today:
        raise InvalidInput("day_past")
    _check_window(day.weekday(), starts, ends, capacity)
    window = window_for(db, district, day, starts, ends=ends, capacity=capacity)
    before = {"ends": window.ends.isoformat(), "capacity": window.capacity}
    changed = db.execute(
        sa.update(VisitWindow)
        .where(VisitWindow.id == window.id, VisitWindow.booked <= capacity)
        .values(ends=ends, capacity=capacity, set_apart=True)
    ).rowcount
    if changed != 1:
        raise InvalidInput("capacity_below_booked")
    db.refresh(window)
    after = {"ends": ends.isoformat(), "capacity": capacity}
    _audit(
        db,
        "visit_window.set",
        before,
        after,
        actor,
        address,
        day=day.isoformat(),
        district=district,
        starts=starts.isoformat(),
    )
    return window


def _audit(db, event, before, after, actor, address, **data) -> None:
    audit.record(db, event, actor=actor, address=address, **data, **audit.changes(before, after))


def _check_window(weekday: int, starts: time, ends: time, capacity: int) -> None:
    if not 0 <= weekday <= 6:
        raise InvalidInput("weekday")
    if ends <= starts:
        raise InvalidInput("ends")
    if not 0 <= capacity <= CAPACITY_MAX:
        raise InvalidInput("capacity")


def templates(db: Session, district: str) -> list[VisitWindowTemplate]:
    return list(
        db.scalars(
            sa.select(VisitWindowTemplate)
            .filter_by(district=district)
            .order_by(VisitWindowTemplate.weekday, VisitWindowTemplate.starts)
        )
    )


# --- what the schedule offers -----------------------------------------------------------


def slots(db: Session, district: str, first: date, last: date, policy: VisitPolicy) -> list[Slot]:
    """Every window of `district` from `first` to `last` (local days): a date's own
    windows where it has them, the weekly template's otherwise."""
    rows = db.scalars(
        sa.select(VisitWindow).where(
            VisitWindow.district == district, VisitWindow.day >= first, VisitWindow.day <= last
        )
    )
    concrete = {(w.day, w.starts): w for w in rows}
    weekly: dict[int, list[VisitWindowTemplate]] = {}
    for template in templates(db, district):
        weekly.setdefault(template.weekday, []).append(template)
    found: dict[tuple[date, time], Slot] = {}
    day = first
    while day <= last:
        for t in weekly.get(day.weekday(), []):
            found[(day, t.starts)] = Slot(
                district, day, t.starts, t.ends, t.capacity, 0, policy.moment(day, t.starts)
            )
        day += timedelta(days=1)
    for (day, starts), w in concrete.items():
        found[(day, starts)] = Slot(
            district, day, starts, w.ends, w.capacity, w.booked, policy.moment(day, starts)
        )
    return [found[k] for k in sorted(found)]


def bookable(db: Session, district: str, policy: VisitPolicy) -> list[Slot]:
    """The windows a subscriber of `district` may book now: from now on, within the days
    ahead, with a free place."""
    today = clock.local_today(policy.tz)
    last = today + timedelta(days=policy.days_ahead - 1)
    now = clock.now()
    return [s for s in slots(db, district, today, last, policy) if s.free > 0 and s.starts_at > now]


def window_for(
    db: Session,
    district: str,
    day: date,
    starts: time,
    *,
    ends: time | None = None,
    capacity: int | None = None,
) -> VisitWindow:
    """The concrete window of a date, made from the template the first time it is needed
    (or from `ends` and `capacity`, for an exception). Two requests making it at once
    meet at the unique key: the loser reads the winner's row."""
    found = _concrete(db, district, day, starts)
    if found is not None:
        return found
    if ends is None or capacity is None:
        template = db.scalar(
            sa.select(VisitWindowTemplate).filter_by(
                district=district, weekday=day.weekday(), starts=starts
            )
        )
        if template is None:
            raise WindowUnavailable
        ends, capacity = template.ends, template.capacity
    window = VisitWindow(
        district=district, day=day, starts=starts, ends=ends, capacity=capacity, booked=0
    )
    try:
        with db.begin_nested():
            db.add(window)
    except IntegrityError:
        found = _concrete(db, district, day, starts)
        if found is None:
            raise
        return found
    return window


def _concrete(db: Session, district: str, day: date, starts: time) -> VisitWindow | None:
    return db.scalar(sa.select(VisitWindow).filter_by(district=district, day=day, starts=starts))


def take_place(db: Session, window_id: int) -> None:
    """One place of the window, or WindowFull; the database decides (see the module)."""
    taken = db.execute(
        sa.update(VisitWindow)
        .where(VisitWindow.id == window_id, VisitWindow.booked < VisitWindow.capacity)
        .values(booked=VisitWindow.booked + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        raise WindowFull


def release_place(db: Session, window_id: int) -> None:
    """Give a place back (a cancelled or moved request)."""
    db.execute(
        sa.update(VisitWindow)
        .where(VisitWindow.id == window_id, VisitWindow.booked > 0)
        .values(booked=VisitWindow.booked - 1)
        .execution_options(synchronize_session=False)
    )


def bookable_window(db: Session, district: str, key: str, policy: VisitPolicy) -> VisitWindow:
    """The concrete window picked by its key: in the schedule, ahead of now and within
    the days ahead; WindowPast, WindowBeyondHorizon or WindowUnavailable otherwise."""
    day, starts = parse_key(key)
    today = clock.local_today(policy.tz)
    if day < today or policy.moment(day, starts) <= clock.now():
        raise WindowPast
    if day >= today + timedelta(days=policy.days_ahead):
        raise WindowBeyondHorizon
    window = window_for(db, district, day, starts)
    if window.capacity == 0:
        raise WindowUnavailable
    return window
