"""Trusted devices: a browser that has signed in before.

After a successful sign-in the browser keeps a long-lived cookie signed with the app's
secret key (itsdangerous), naming the device (a random id) and the people who signed in
on it. Nothing is stored on the server: the signature is the proof. Such a device is
not held back by the account's lock (portal.domain.auth.lockout) nor by the limits per
network address; it has a limit of its own instead, so a copied cookie is no free pass.
"""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer

_SALT = "portal.trusted-device"
PEOPLE_PER_DEVICE = 5  # a family's shared tablet; the oldest is forgotten first


@dataclass(frozen=True)
class Device:
    id: str
    people: tuple[int, ...]

    def trusts(self, person_id: int) -> bool:
        return person_id in self.people


def read(cookie: str | None, secret_key: str, max_age: timedelta) -> Device | None:
    """The device a cookie names, if its signature holds and it is not too old."""
    if not cookie or len(cookie) > 400:
        return None
    try:
        data = URLSafeTimedSerializer(secret_key, salt=_SALT).loads(
            cookie, max_age=int(max_age.total_seconds())
        )
        device = Device(id=str(data["d"]), people=tuple(int(p) for p in data["p"]))
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    return device


def remember(device: Device | None, person_id: int, secret_key: str) -> tuple[Device, str]:
    """The device with this person trusted on it, and its new cookie value."""
    people = tuple(p for p in (device.people if device else ()) if p != person_id)
    device = Device(
        id=device.id if device else secrets.token_urlsafe(12),
        people=(*people, person_id)[-PEOPLE_PER_DEVICE:],
    )
    value = URLSafeTimedSerializer(secret_key, salt=_SALT).dumps(
        {"d": device.id, "p": list(device.people)}
    )
    return device, value
