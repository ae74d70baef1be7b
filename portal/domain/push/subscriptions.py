"""The devices of a person that accept pushes, and the kinds each person wants pushed."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from portal import clock
from portal.domain.errors import InvalidInput, NotFound
from portal.domain.push.keys import b64url_decode
from portal.models import NotificationKind, NotificationPreference, PushSubscription

MAX_ENDPOINT = 1000
# The browser's ECDH key (65 bytes) and auth secret (16 bytes), in base64url.
P256DH_BYTES = 65
AUTH_BYTES = 16


class InvalidSubscription(InvalidInput):
    """What the browser sent is no push subscription we can use; the message says why."""


def parse(data: object, *, allow_local: bool) -> tuple[str, str, str]:
    """(endpoint, p256dh, auth) from a PushSubscription's JSON (PushSubscription.toJSON()).

    Only https endpoints on public hosts: the server will post to it, so an address
    inside the provider's network would let anyone make it call internal hosts.
    `allow_local` (development, tests) admits loopback and private hosts over http too.
    """
    if not isinstance(data, Mapping):
        raise InvalidSubscription("not a subscription")
    endpoint = endpoint_text(data.get("endpoint"))
    keys = data.get("keys")
    if not isinstance(keys, Mapping):
        raise InvalidSubscription("keys")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    if not usable_keys(p256dh, auth):
        raise InvalidSubscription("keys")
    check_endpoint(endpoint, allow_local=allow_local)
    return endpoint, p256dh, auth


def endpoint_text(value: object) -> str:
    """The endpoint as a browser sends it: text of at most MAX_ENDPOINT characters with no
    control characters (no URL has them, and PostgreSQL cannot store a NUL)."""
    if (
        not isinstance(value, str)
        or not value
        or len(value) > MAX_ENDPOINT
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)
    ):
        raise InvalidSubscription("endpoint")
    return value


def usable_keys(p256dh: object, auth: object) -> bool:
    """A push can be encrypted for these keys: a point of P-256 and a 16-byte secret
    (else every push to the device fails at encryption, before it is sent)."""
    if not _key_of_length(p256dh, P256DH_BYTES) or not _key_of_length(auth, AUTH_BYTES):
        return False
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(p256dh))
    except ValueError:
        return False
    return True


def _key_of_length(value: object, length: int) -> bool:
    if not isinstance(value, str) or len(value) > 200:
        return False
    try:
        return len(b64url_decode(value)) == length
    except ValueError:
        return False


def check_endpoint(endpoint: str, *, allow_local: bool) -> None:
    """An https URL of a public host (by name or address); InvalidSubscription otherwise."""
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        raise InvalidSubscription("endpoint") from None
    if not host or parts.username or parts.password:
        raise InvalidSubscription("endpoint")
    local = is_local_host(host)
    if local and not allow_local:
        raise InvalidSubscription("endpoint on an internal address")
    if parts.scheme != "https" and not (allow_local and local and parts.scheme == "http"):
        raise InvalidSubscription("endpoint is not https")


def is_local_host(host: str) -> bool:
    """A loopback, private, link-local or otherwise non-public address, or localhost."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    if "." not in name and ":" not in name:
        return True  # a single-label name is resolved inside the local network
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return not address.is_global


def subscribe(
    db: Session, person_id: int, data: object, *, user_agent: str, allow_local: bool
) -> PushSubscription:
    """Keep this device's subscription (again: the browser may renew its keys); a device
    handed to another person now belongs to them."""
    endpoint, p256dh, auth = parse(data, allow_local=allow_local)
    device = db.scalar(sa.select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    if device is None:
        device = PushSubscription(endpoint=endpoint, created_at=clock.now())
        db.add(device)
    device.person_id = person_id
    device.p256dh = p256dh
    device.auth = auth
    device.user_agent = (user_agent or "")[:300]
    db.flush()
    return device


def unsubscribe(db: Session, person_id: int, endpoint: object) -> bool:
    """The browser turned push off: forget its subscription (if it was this person's).
    InvalidSubscription for an endpoint no browser sends."""
    endpoint = endpoint_text(endpoint)
    result = db.execute(
        sa.delete(PushSubscription).where(
            PushSubscription.person_id == person_id, PushSubscription.endpoint == endpoint
        )
    )
    return bool(result.rowcount)


def is_on(db: Session, person_id: int, endpoint: object) -> bool:
    """Whether the browser's subscription is one of this person's devices: on a shared
    phone it may still be the previous person's, and then push is not on for this one.
    InvalidSubscription for an endpoint no browser sends."""
    endpoint = endpoint_text(endpoint)
    found = db.scalar(
        sa.select(PushSubscription.id).where(
            PushSubscription.person_id == person_id, PushSubscription.endpoint == endpoint
        )
    )
    return found is not None


def remove_device(db: Session, person_id: int, subscription_id: int) -> None:
    """Remove one of the person's devices; NotFound for anyone else's."""
    device = db.get(PushSubscription, subscription_id)
    if device is None or device.person_id != person_id:
        raise NotFound("push subscription")
    db.delete(device)
    db.flush()


def devices(db: Session, person_id: int) -> list[PushSubscription]:
    return list(
        db.scalars(
            sa.select(PushSubscription)
            .where(PushSubscription.person_id == person_id)
            .order_by(PushSubscription.created_at.desc(), PushSubscription.id.desc())
        )
    )


# Most specific first: Edge and Opera say "Chrome" too, Chrome says "Safari".
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("YaBrowser/", "Yandex Browser"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def browser_name(user_agent: str) -> str:
    """ "Chrome, Android": what the device list shows (empty when unknown)."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), "")
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), "")
    return ", ".join(part for part in (browser, system) if part)


def preferences(db: Session, person_id: int) -> NotificationPreference:
    """The person's choice; every kind until they chose (not stored until then)."""
    return db.get(NotificationPreference, person_id) or NotificationPreference(
        person_id=person_id, payments=True, visits=True, promotions=True
    )


def set_preferences(db: Session, person_id: int, kinds: set[NotificationKind]) -> None:
    choice = db.get(NotificationPreference, person_id)
    if choice is None:
        choice = NotificationPreference(person_id=person_id)
        db.add(choice)
    for kind in NotificationKind:
        setattr(choice, kind.value, kind in kinds)
    db.flush()


def wants(db: Session, person_id: int, kind: NotificationKind) -> bool:
    return bool(getattr(preferences(db, person_id), kind.value))
