"""The technicians the dispatcher assigns visits to: a name, a phone, their districts."""

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.domain import audit, phones
from portal.domain.errors import InvalidInput
from portal.models import Technician

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
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise InvalidInput("technician_name")
    number = phones.to_e164(phone) if (phone or "").strip() else ""
    if not districts or any(d not in known_districts for d in districts):
        raise InvalidInput("district")
    technician = Technician(name=name, phone=number, districts=list(districts), active=True)
    db.add(technician)
    db.flush()
    audit.record(
        db,
        "technician.added",
        actor=audit.staff_actor(staff_id),
        address=address,
        technician_id=technician.id,
        before={},
        after={"name": name, "phone": number, "districts": list(districts)},
    )
    return technician


def active(db: Session) -> list[Technician]:
    return list(db.scalars(sa.select(Technician).filter_by(active=True).order_by(Technician.name)))
