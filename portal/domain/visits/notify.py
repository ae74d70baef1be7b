"""How a subscriber hears about their visit: the one place every visit message is
decided and leaves.

Each message is kept in the person's notification centre (portal.domain.notifications,
kind "visits"), which pushes it to their devices once the transaction commits. Where no
push can reach them — push is off on this portal, they turned visit notifications off,
or no device of theirs is subscribed — the same words go by SMS to the phone given for
this visit (queued in the caller's transaction, sent after it commits). Texts are in
the person's language.

A push that fails later (the device is gone) is not followed by an SMS: the message
stays in the centre, and the next one goes by SMS since the device was removed.
"""

from __future__ import annotations

import enum

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal.domain import notifications, sms
from portal.domain.push import subscriptions
from portal.domain.visits.policy import VisitPolicy
from portal.models import NotificationKind, VisitRequest, VisitWindow


class Event(enum.StrEnum):
    """What the subscriber is told of (the SMS purpose is "visit_<event>")."""

    CONFIRMED = "confirmed"
    MOVED = "moved"
    ON_THE_WAY = "on_the_way"
    CANCELLED = "cancelled"
    REMINDER = "reminder"


class Channel(enum.StrEnum):
    PUSH = "push"
    SMS = "sms"


def notify(db: Session, visit: VisitRequest, event: Event, policy: VisitPolicy) -> Channel:
    """Tell the subscriber of `visit` about `event`: the centre always, then push where
    they allowed it, SMS otherwise. Returns the channel chosen."""
    person = visit.account.person
    with force_locale(person.locale or notifications.DEFAULT_LOCALE):
        title, body = _texts(visit, event)
    notifications.notify(db, person.id, NotificationKind.VISITS, title, body, f"visits/{visit.id}")
    if reaches_by_push(db, person.id, policy):
        return Channel.PUSH
    sms.queue(
        db,
        to_phone=visit.phone,
        text=f"{policy.provider_name}: {body}",
        purpose=f"visit_{event.value}",
        person_id=person.id,
    )
    return Channel.SMS


def reaches_by_push(db: Session, person_id: int, policy: VisitPolicy) -> bool:
    """Push is on here, the person wants visit notifications pushed, and has a device."""
    return (
        policy.push
        and subscriptions.wants(db, person_id, NotificationKind.VISITS)
        and bool(subscriptions.devices(db, person_id))
    )


def window_text(window: VisitWindow) -> str:
    """A window as messages write it: 01.12.2026 09:00–12:00 (local times)."""
    return (
        f"{window.day.strftime('%d.%m.%Y')} "
        f"{window.starts.strftime('%H:%M')}–{window.ends.strftime('%H:%M')}"
    )


def _texts(visit: VisitRequest, event: Event) -> tuple[str, str]:
    """The title and the words of a message, in the current locale."""
    when = window_text(visit.window)
    name = visit.technician.name if visit.technician else ""
    if event is Event.CONFIRMED:
        return _("Technician visit confirmed"), _(
            "The technician's visit is confirmed for %(when)s, technician %(name)s.",
            when=when,
            name=name,
        )
    if event is Event.MOVED:
        return _("Technician visit moved"), _(
            "The technician's visit is moved to %(when)s.", when=when
        )
    if event is Event.ON_THE_WAY:
        return _("The technician is on the way"), _(
            "Technician %(name)s is on the way to you.", name=name
        )
    if event is Event.CANCELLED:
        return _("Technician visit cancelled"), _(
            "The technician's visit on %(when)s is cancelled.", when=when
        )
    if name:
        body = _(
            "A reminder of the technician's visit on %(when)s, technician %(name)s. "
            "Address: %(address)s.",
            when=when,
            name=name,
            address=visit.address,
        )
    else:
        body = _(
            "A reminder of the technician's visit on %(when)s. Address: %(address)s.",
            when=when,
            address=visit.address,
        )
    return _("Technician visit reminder"), body
