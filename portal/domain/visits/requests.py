"""A subscriber's visit request through its states: the only way a request changes.

    requested -> confirmed -> on_the_way -> done
         \\____________\\___________\\______-> cancelled

A request holds one place of its window from booking until it is cancelled (a done
visit keeps it: the place was used). An open request carries `open_key`
("account:category"), unique in the database, so an account has one open request per
problem category even when two are sent at once; closing it sets the key to NULL, and
so does a new booking when the open one's window has ended unattended.
Every change is an audit event, and the subscriber is told of those that concern them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit, phones
from portal.domain.errors import InvalidInput, NotFound
from portal.domain.visits import schedule
from portal.domain.visits.errors import (
    DuplicateOpen,
    InvalidTransition,
    TechnicianBusy,
    TooLateToChange,
)
from portal.domain.visits.notify import Event, notify, window_text
from portal.domain.visits.policy import VisitPolicy
from portal.models import (
    Account,
    Technician,
    VisitCategory,
    VisitRequest,
    VisitState,
    VisitWindow,
)

S = VisitState
ALLOWED: dict[VisitState, frozenset[VisitState]] = {
    S.REQUESTED: frozenset({S.CONFIRMED, S.CANCELLED}),
    S.CONFIRMED: frozenset({S.ON_THE_WAY, S.CANCELLED}),
    S.ON_THE_WAY: frozenset({S.DONE, S.CANCELLED}),
    S.DONE: frozenset(),
    S.CANCELLED: frozenset(),
}
# The column holding the moment each state was reached.
STAMPS = {
    S.CONFIRMED: "confirmed_at",
    S.ON_THE_WAY: "on_the_way_at",
    S.DONE: "done_at",
    S.CANCELLED: "cancelled_at",
}
TEXT_MAX = 2000
ADDRESS_MAX = 300
COMMENT_MAX = 2000


@dataclass(frozen=True)
class Booking:
    """What a subscriber asks for: the problem, the window, where and whom to call."""

    category: str
    text: str
    window_key: str
    address: str
    phone: str


def open_key(account_id: int, category: VisitCategory) -> str:
    return f"{account_id}:{category.value}"


def _category(value: str) -> VisitCategory:
    try:
        return VisitCategory(value)
    except ValueError:
        raise InvalidInput("category") from None


def _address(value: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput("address")
    if len(text) > ADDRESS_MAX:
        raise InvalidInput("address_length")
    return text


def open_request(db: Session, account_id: int, category: VisitCategory) -> VisitRequest | None:
    return db.scalar(
        sa.select(VisitRequest).where(VisitRequest.open_key == open_key(account_id, category))
    )


# --- the subscriber's side ---------------------------------------------------------------


def book(
    db: Session, account: Account, booking: Booking, policy: VisitPolicy, *, address: str | None
) -> VisitRequest:
    """Book a visit in a window of the account's district: DuplicateOpen (with the open
    request), WindowFull, WindowUnavailable or InvalidInput; nothing is written then."""
    category = _category(booking.category)
    text = (booking.text or "").strip()
    if len(text) > TEXT_MAX:
        raise InvalidInput("text_length")
    place = _address(booking.address)
    phone = phones.to_e164(booking.phone)
    existing = open_request(db, account.id, category)
    if existing is not None and not _release_if_overdue(db, existing, policy):
        raise DuplicateOpen(existing.id)
    if not account.district:
        raise InvalidInput("district")
    window = schedule.bookable_window(db, account.district, booking.window_key, policy)
    visit = VisitRequest(
        account_id=account.id,
        category=category,
        text=text,
        window_id=window.id,
        address=place,
        phone=phone,
        state=S.REQUESTED,
        open_key=open_key(account.id, category),
        created_at=clock.now(),
    )
    try:
        with db.begin_nested():
            schedule.take_place(db, window.id)
            db.add(visit)
    except IntegrityError:
        # Another tab of the same subscriber opened this category a moment ago.
        existing = open_request(db, account.id, category)
        if existing is None:
            raise
        raise DuplicateOpen(existing.id) from None
    db.refresh(window)
    audit.record(
        db,
        "visit.requested",
        actor=audit.person_actor(account.person_id),
        person_id=account.person_id,
        account_id=account.id,
        address=address,
        visit_id=visit.id,
        after={"state": S.REQUESTED.value, "window": window_text(window)},
    )
    return visit


def _release_if_overdue(db: Session, visit: VisitRequest, policy: VisitPolicy) -> bool:
    """A request still waiting (requested or confirmed) after its window has ended stops
    holding its category, so the subscriber can ask again without calling support; it
    stays as it is for staff to close. A technician on the way still holds it."""
    _lock(db, visit)
    if visit.open_key is None:
        return True  # another tab released it a moment ago
    ends = policy.moment(visit.window.day, visit.window.ends)
    if visit.state not in (S.REQUESTED, S.CONFIRMED) or clock.now() < ends:
        return False
    visit.open_key = None
    db.flush()
    return True


def _hold_category_again(db: Session, visit: VisitRequest) -> None:
    """A request released when its window ended waits again once moved to a new window,
    so it takes its category back: DuplicateOpen while the subscriber's newer request of
    that kind is open."""
    if visit.open_key is not None:
        return
    newer = open_request(db, visit.account_id, visit.category)
    if newer is not None:
        raise DuplicateOpen(newer.id)
    try:
        with db.begin_nested():
            visit.open_key = open_key(visit.account_id, visit.category)
            db.flush()
    except IntegrityError:
        # The subscriber booked anew at this moment: theirs is the open one.
        visit.open_key = None
        newer = open_request(db, visit.account_id, visit.category)
        raise DuplicateOpen(newer.id if newer else visit.id) from None


def of_account(db: Session, account_id: int, visit_id: int) -> VisitRequest:
    """The account's own request; NotFound for anyone else's (a 404, never a 403)."""
    visit = db.get(VisitRequest, visit_id)
    if visit is None or visit.account_id != account_id:
        raise NotFound
    return visit


def of_account_all(db: Session, account_id: int, limit: int | None = None) -> list[VisitRequest]:
    """The account's requests, newest first (`limit`: only that many)."""
    return list(
        db.scalars(
            sa.select(VisitRequest)
            .where(VisitRequest.account_id == account_id)
            .order_by(VisitRequest.id.desc())
            .limit(limit)
        )
    )


def change_deadline(visit: VisitRequest, policy: VisitPolicy):
    """Until when the subscriber may cancel or move the request themself."""
    starts = policy.moment(visit.window.day, visit.window.starts)
    return starts - timedelta(hours=policy.change_hours)


def may_change(visit: VisitRequest, policy: VisitPolicy) -> bool:
    return visit.state in (S.REQUESTED, S.CONFIRMED) and clock.now() < change_deadline(
        visit, policy
    )


def _subscriber_change(db: Session, visit: VisitRequest, policy: VisitPolicy) -> None:
    _lock(db, visit)
    if visit.state not in (S.REQUESTED, S.CONFIRMED):
        raise InvalidTransition(visit.state, S.CANCELLED)
    if clock.now() >= change_deadline(visit, policy):
        raise TooLateToChange


def cancel_by_subscriber(
    db: Session, visit: VisitRequest, policy: VisitPolicy, *, address: str | None
) -> None:
    _subscriber_change(db, visit, policy)
    before = _state_of(visit)
    _move(db, visit, S.CANCELLED)
    _audit(db, "visit.cancelled", visit, before, actor=_person(visit), address=address)


def move_by_subscriber(
    db: Session, visit: VisitRequest, window_key: str, policy: VisitPolicy, *, address: str | None
) -> None:
    """Another window of the same district; a confirmed request goes back to requested
    (the dispatcher confirms the new window)."""
    _subscriber_change(db, visit, policy)
    before = _state_of(visit)
    window = schedule.bookable_window(db, visit.window.district, window_key, policy)
    _hold_category_again(db, visit)
    _rebook(db, visit, window)
    if visit.state is S.CONFIRMED:
        visit.state = S.REQUESTED
        visit.confirmed_at = None
    if (
        visit.technician is not None
        and _busy_with(db, _technician_locked(db, visit), visit) is not None
    ):
        # The subscriber is never refused for the technician's day: the dispatcher
        # assigns someone free when confirming the new window.
        visit.technician = None
    _audit(db, "visit.moved", visit, before, actor=_person(visit), address=address)


def rate(
    db: Session, visit: VisitRequest, rating: int, comment: str, *, address: str | None
) -> None:
    """1 to 5 stars and a comment, once the visit is done; may be changed."""
    if visit.state is not S.DONE:
        raise InvalidTransition(visit.state, "rated")
    if not 1 <= rating <= 5:
        raise InvalidInput("rating")
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise InvalidInput("comment_length")
    before = {"rating": visit.rating, "rating_comment": visit.rating_comment}
    visit.rating, visit.rating_comment, visit.rated_at = rating, comment or None, clock.now()
    after = {"rating": visit.rating, "rating_comment": visit.rating_comment}
    audit.record(
        db,
        "visit.rated",
        actor=_person(visit),
        person_id=visit.account.person_id,
        account_id=visit.account_id,
        address=address,
        visit_id=visit.id,
        **audit.changes(before, after),
    )


# --- the dispatcher's side ----------------------------------------------------------------


def board(db: Session, first, last, district: str | None = None) -> list[VisitRequest]:
    """The requests of windows from local day `first` to `last`, by window, for the
    dispatcher's board (of one district, or all)."""
    query = (
        sa.select(VisitRequest)
        .join(VisitWindow, VisitRequest.window_id == VisitWindow.id)
        .where(VisitWindow.day >= first, VisitWindow.day <= last)
        .order_by(VisitWindow.day, VisitWindow.starts, VisitWindow.district, VisitRequest.id)
    )
    if district:
        query = query.where(VisitWindow.district == district)
    return list(db.scalars(query))


def for_staff(db: Session, visit_id: int) -> VisitRequest:
    visit = db.get(VisitRequest, visit_id)
    if visit is None:
        raise NotFound
    return visit


def advance(
    db: Session,
    visit: VisitRequest,
    to: VisitState,
    policy: VisitPolicy,
    *,
    staff_id: int,
    technician_id: int | None = None,
    address: str | None = None,
) -> None:
    """The dispatcher moves a request on: confirm (with a technician), on the way, done,
    or cancel. The subscriber is told of each but done."""
    _lock(db, visit)
    if to not in ALLOWED[visit.state]:
        raise InvalidTransition(visit.state, to)
    before = _state_of(visit)
    if technician_id is not None:
        visit.technician = _technician(db, technician_id)
    if to is S.CONFIRMED and visit.technician is None:
        raise InvalidInput("technician")
    if to is S.CONFIRMED:
        _check_free(db, visit.technician, visit)
    _move(db, visit, to)
    _audit(
        db, f"visit.{to.value}", visit, before, actor=audit.staff_actor(staff_id), address=address
    )
    if to is not S.DONE:
        notify(db, visit, Event(to.value), policy)


def move_by_staff(
    db: Session,
    visit: VisitRequest,
    window_key: str,
    policy: VisitPolicy,
    *,
    staff_id: int,
    address: str | None = None,
) -> None:
    """Another window of the district with room, ahead of now and within the days ahead
    (any time before it: the dispatcher agreed it with the subscriber). The assigned
    technician must be free then: TechnicianBusy otherwise; DuplicateOpen for a request
    released when its window ended, while the subscriber has a newer one of its kind."""
    _lock(db, visit)
    if visit.state not in (S.REQUESTED, S.CONFIRMED):
        raise InvalidTransition(visit.state, "moved")
    before = _state_of(visit)
    window = schedule.bookable_window(db, visit.window.district, window_key, policy)
    _hold_category_again(db, visit)
    _rebook(db, visit, window)
    if visit.technician is not None:
        _check_free(db, _technician_locked(db, visit), visit)
    _audit(db, "visit.moved", visit, before, actor=audit.staff_actor(staff_id), address=address)
    notify(db, visit, Event.MOVED, policy)


def assign(
    db: Session, visit: VisitRequest, technician_id: int, *, staff_id: int, address: str | None
) -> None:
    if not visit.state.is_open:
        raise InvalidTransition(visit.state, "assigned")
    before = _state_of(visit)
    visit.technician = _technician(db, technician_id)
    _check_free(db, visit.technician, visit)
    _audit(db, "visit.assigned", visit, before, actor=audit.staff_actor(staff_id), address=address)


# --- inside --------------------------------------------------------------------------------


def move_choices(
    db: Session, visits: list[VisitRequest], policy: VisitPolicy
) -> dict[int, list[schedule.Slot]]:
    """For each request the dispatcher may still move: the windows of its district with
    room, ahead of now and within the days ahead, its own window left out (the schedule
    is read once per district)."""
    by_district: dict[str, list[schedule.Slot]] = {}
    found = {}
    for visit in visits:
        if visit.state not in (S.REQUESTED, S.CONFIRMED):
            continue
        district = visit.window.district
        if district not in by_district:
            by_district[district] = schedule.bookable(db, district, policy)
        own = (visit.window.day, visit.window.starts)
        found[visit.id] = [s for s in by_district[district] if (s.day, s.starts) != own]
    return found


def _lock(db: Session, visit: VisitRequest) -> None:
    """Read the request again under its row lock (FOR UPDATE; SQLite takes its write
    lock): two changes at once (two tabs, the subscriber and the dispatcher) are
    serialised here, and the second checks the state and window the first left, so a
    place is never given back twice nor the wrong window's."""
    db.refresh(visit, with_for_update=True)


def _technician(db: Session, technician_id: int) -> Technician:
    # FOR UPDATE: two dispatchers giving the same technician two requests at once are
    # serialised here, so the overlap check of the second sees the first's request.
    technician = db.scalar(
        sa.select(Technician).where(Technician.id == technician_id).with_for_update()
    )
    if technician is None or not technician.active:
        raise InvalidInput("technician")
    return technician


def _technician_locked(db: Session, visit: VisitRequest) -> Technician:
    """The request's technician, their row locked as `_technician` does: a move into a
    window is checked against the requests given to them at the same moment."""
    return db.scalar(
        sa.select(Technician).where(Technician.id == visit.technician_id).with_for_update()
    )


def _busy_with(db: Session, technician: Technician, visit: VisitRequest) -> int | None:
    """Another open request of the technician whose window overlaps `visit`'s, if any."""
    window = visit.window
    return db.scalar(
        sa.select(VisitRequest.id)
        .join(VisitWindow, VisitRequest.window_id == VisitWindow.id)
        .where(
            VisitRequest.technician_id == technician.id,
            VisitRequest.id != visit.id,
            VisitRequest.state.in_((S.REQUESTED, S.CONFIRMED, S.ON_THE_WAY)),
            VisitWindow.day == window.day,
            VisitWindow.starts < window.ends,
            VisitWindow.ends > window.starts,
        )
        .order_by(VisitRequest.id)
        .limit(1)
    )


def _check_free(db: Session, technician: Technician, visit: VisitRequest) -> None:
    """A technician is in one place at a time: TechnicianBusy (with the other request)."""
    other = _busy_with(db, technician, visit)
    if other is not None:
        raise TechnicianBusy(other)


def _move(db: Session, visit: VisitRequest, to: VisitState) -> None:
    visit.state = to
    setattr(visit, STAMPS[to], clock.now())
    if to is S.CANCELLED:
        schedule.release_place(db, visit.window_id)
    if not to.is_open:
        visit.open_key = None
    db.flush()


def _rebook(db: Session, visit: VisitRequest, window: VisitWindow) -> None:
    if window.id == visit.window_id:
        raise InvalidInput("same_window")
    schedule.take_place(db, window.id)
    schedule.release_place(db, visit.window_id)
    visit.window = window
    visit.reminded_at = None  # a reminder names the window: the new one gets its own
    db.flush()
    db.refresh(window)


def _state_of(visit: VisitRequest) -> dict:
    return {
        "state": visit.state.value,
        "window": window_text(visit.window),
        "technician": visit.technician.name if visit.technician else None,
    }


def _audit(db, event, visit, before, *, actor, address) -> None:
    audit.record(
        db,
        event,
        actor=actor,
        person_id=visit.account.person_id,
        account_id=visit.account_id,
        address=address,
        visit_id=visit.id,
        **audit.changes(before, _state_of(visit)),
    )


def _person(visit: VisitRequest) -> str:
    return audit.person_actor(visit.account.person_id)
