"""The technicians the dispatcher assigns visits to: a name, a phone, their districts;
kept, changed and deactivated (never deleted: their visits keep their name), and how
subscribers rated their visits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.domain import audit, phones
from portal.domain.errors import InvalidInput, NotFound
from portal.models import Technician, VisitRequest, VisitState

# How many of the latest rating comments the technicians page shows for each.
RECENT_COMMENTS = 3

NAME_MAX = 200


def add(
    db: Session,
    name: str,
    phone: str,
    districts: list[str],
    *,
    known_districts: tuple[str, ...],
    staff_id: int,
    address: str | None,
) -> Technician:
    name, number, districts = _checked(name, phone, districts, known_districts)
    technician = Technician(name=name, phone=number, districts=districts, active=True)
    db.add(technician)
    db.flush()
    audit.record(
        db,
        "technician.added",
        actor=audit.staff_actor(staff_id),
        address=address,
        technician_id=technician.id,
        before={},
        after={"name": name, "phone": number, "districts": districts},
    )
    return technician


def _checked(name, phone, districts, known_districts) -> tuple[str, str, list[str]]:
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise InvalidInput("technician_name")
    number = phones.to_e164(phone) if (phone or "").strip() else ""
    if not districts or any(d not in known_districts for d in districts):
        raise InvalidInput("technician_districts")
    return name, number, list(dict.fromkeys(districts))


def get(db: Session, technician_id: int) -> Technician:
    """An active technician; NotFound for no such one or a deactivated one."""
    technician = db.get(Technician, technician_id)
    if technician is None or not technician.active:
        raise NotFound("technician")
    return technician


def update(
    db: Session,
    technician: Technician,
    name: str,
    phone: str,
    districts: list[str],
    *,
    known_districts: tuple[str, ...],
    staff_id: int,
    address: str | None,
) -> None:
    """A new name, phone or districts; an audit event says what changed."""
    name, number, districts = _checked(name, phone, districts, known_districts)
    before = _facts(technician)
    technician.name, technician.phone, technician.districts = name, number, districts
    db.flush()
    _audit(db, "technician.changed", technician, before, staff_id, address)


def deactivate(db: Session, technician: Technician, *, staff_id: int, address: str | None) -> None:
    """Out of the lists; refused (InvalidInput "technician_has_visits") while an open
    request is assigned to them: the dispatcher gives those to someone else first."""
    if open_assigned(db, technician.id):
        raise InvalidInput("technician_has_visits")
    before = _facts(technician)
    technician.active = False
    db.flush()
    _audit(db, "technician.deactivated", technician, before, staff_id, address)


def open_assigned(db: Session, technician_id: int) -> int:
    """How many open requests are assigned to the technician."""
    return db.scalar(
        sa.select(sa.func.count(VisitRequest.id)).where(
            VisitRequest.technician_id == technician_id,
            VisitRequest.state.in_(
                (VisitState.REQUESTED, VisitState.CONFIRMED, VisitState.ON_THE_WAY)
            ),
        )
    )


def _facts(technician: Technician) -> dict:
    return {
        "name": technician.name,
        "phone": technician.phone,
        "districts": list(technician.districts),
        "active": technician.active,
    }


def _audit(db, event, technician, before, staff_id, address) -> None:
    audit.record(
        db,
        event,
        actor=audit.staff_actor(staff_id),
        address=address,
        technician_id=technician.id,
        **audit.changes(before, _facts(technician)),
    )


def active(db: Session) -> list[Technician]:
    return list(db.scalars(sa.select(Technician).filter_by(active=True).order_by(Technician.name)))


@dataclass(frozen=True)
class Comment:
    rating: int
    text: str
    at: datetime


@dataclass
class Ratings:
    """How subscribers rated a technician's visits."""

    count: int = 0
    average: float | None = None
    recent: list[Comment] = field(default_factory=list)


def ratings(db: Session, technician_ids: list[int]) -> dict[int, Ratings]:
    """Each technician's rating count, average and latest comments (one query for the
    figures, one for the comments, whatever the number of technicians)."""
    found = {tid: Ratings() for tid in technician_ids}
    if not technician_ids:
        return found
    rated = VisitRequest.rating.is_not(None)
    mine = VisitRequest.technician_id.in_(technician_ids)
    for tid, count, average in db.execute(
        sa.select(
            VisitRequest.technician_id,
            sa.func.count(VisitRequest.id),
            sa.func.avg(VisitRequest.rating),
        )
        .where(mine, rated)
        .group_by(VisitRequest.technician_id)
    ):
        found[tid].count, found[tid].average = count, round(float(average), 1)
    place = (
        sa.func.row_number()
        .over(
            partition_by=VisitRequest.technician_id,
            order_by=(VisitRequest.rated_at.desc(), VisitRequest.id.desc()),
        )
        .label("place")
    )
    latest = (
        sa.select(
            VisitRequest.technician_id,
            VisitRequest.rating,
            VisitRequest.rating_comment,
            VisitRequest.rated_at,
            place,
        )
        .where(mine, rated, VisitRequest.rating_comment.is_not(None))
        .subquery()
    )
    for tid, rating, text, at, _place in db.execute(
        sa.select(latest)
        .where(latest.c.place <= RECENT_COMMENTS)
        .order_by(latest.c.technician_id, latest.c.place)
    ):
        found[tid].recent.append(Comment(rating, text, at))
    return found
