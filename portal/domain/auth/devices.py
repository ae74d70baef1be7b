"""Trusted devices: a browser that has signed in before with the current password.

After a successful sign-in the browser keeps a long-lived cookie signed with the app's
secret key (itsdangerous), naming the device (a random id) and the people who signed in
on it, each with the moment their password was last set. Nothing is stored on the
server: the signature is the proof. A new password (a change, or one chosen after a
recovery) takes the trust from every device but the one it was chosen on, so a device
that signed in with a stolen password loses it. Such a device is not held back by the
account's lock (portal.domain.auth.lockout) nor by the limits per network address; it
has a limit of its own instead, so a copied cookie is no free pass.

Staff members' devices work the same way with a cookie of their own for the console,
signed under another salt: a person and a staff member may share an id, and a
subscriber's cookie must never read as a staff device (or the other way round).
"""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer

from portal.models import Person, StaffMember

SUBSCRIBERS = "portal.trusted-device"  # the salt of a subscriber's device cookie
STAFF = "portal.staff-device"  # and of a staff member's
PEOPLE_PER_DEVICE = 5  # a family's shared tablet; the oldest is forgotten first


def _password_stamp(holder: Person | StaffMember) -> int:
    return int(holder.password_changed_at.timestamp())


@dataclass(frozen=True)
class Device:
    id: str
    people: tuple[tuple[int, int], ...]  # (person id, when their password was set)

    def trusts(self, holder: Person | StaffMember) -> bool:
        return (holder.id, _password_stamp(holder)) in self.people


def read(
    cookie: str | None, secret_key: str, max_age: timedelta, *, salt: str = SUBSCRIBERS
) -> Device | None:
    """The device a cookie names, if its signature (under `salt`) holds and it is not
    too old."""
    if not cookie or len(cookie) > 600:
        return None
    try:
        data = URLSafeTimedSerializer(secret_key, salt=salt).loads(
            cookie, max_age=int(max_age.total_seconds())
        )
        people = tuple((int(person), int(stamp)) for person, stamp in data["p"])
        return Device(id=str(data["d"]), people=people)
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def remember(
    device: Device | None,
    person: Person | StaffMember,
    secret_key: str,
    *,
    salt: str = SUBSCRIBERS,
) -> tuple[Device, str]:
    """The device with this person (and their current password) trusted on it, and its
    new cookie value (signed under `salt`)."""
    others = tuple(p for p in (device.people if device else ()) if p[0] != person.id)
    device = Device(
        id=device.id if device else secrets.token_urlsafe(12),
        people=(*others, (person.id, _password_stamp(person)))[-PEOPLE_PER_DEVICE:],
    )
    value = URLSafeTimedSerializer(secret_key, salt=salt).dumps(
        {"d": device.id, "p": [list(p) for p in device.people]}
    )
    return device, value
