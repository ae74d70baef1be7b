"""Passwords and sign-in sessions.

argon2id hashes. An unknown login costs the same work as a wrong password (a hash is
verified either way), so neither the answer nor its timing tells which one was wrong.
Sessions live in the database: the cookie holds a random token, the table its hash, so
ending a session ends it even for a copied cookie.
"""

import hashlib
import secrets
import string
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from portal import clock
from portal.models import Account, LoginSession, Person

_hasher = PasswordHasher()  # argon2id with the library's recommended parameters
_DUMMY_HASH = _hasher.hash("not a real password: used to spend equal time on unknown logins")

# Letters and digits a person cannot confuse when reading them from paper or an SMS.
READABLE_ALPHABET = "".join(ch for ch in string.ascii_letters + string.digits if ch not in "0O1lI")

LOGIN_MAX = 64
PASSWORD_MIN = 8
PASSWORD_MAX = 128


def use_hasher(hasher: PasswordHasher) -> None:
    """Hash and check with other argon2id parameters from now on. The test suite takes
    the lowest cost: what it checks is what a hash protects, not how slow it is to break,
    and a hash of the library's cost on every sign-in would be most of its time."""
    global _hasher, _DUMMY_HASH
    _hasher = hasher
    _DUMMY_HASH = hasher.hash("not a real password: used to spend equal time on unknown logins")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def generate_password(length: int = 10) -> str:
    return "".join(secrets.choice(READABLE_ALPHABET) for _ in range(length))


def find_person(db: Session, login_or_contract: str) -> Person | None:
    """The person by login, or by the contract number of one of their accounts."""
    text = login_or_contract.strip()
    person = db.scalar(sa.select(Person).where(sa.func.lower(Person.login) == text.lower()))
    if person is not None:
        return person
    return db.scalar(
        sa.select(Person)
        .join(Account, Account.person_id == Person.id)
        .where(Account.contract_number == text)
    )


# Stored instead of a hash when no password may work (after a recovery secret is used).
UNUSABLE_HASH = "!unusable"


def verify(stored_hash: str | None, password: str) -> bool:
    """Check a password against a hash. With no usable hash the same time is spent on a
    stand-in, so timing never tells an unknown or locked login from a wrong password."""
    usable = stored_hash is not None and stored_hash.startswith("$argon2")
    try:
        matched = _hasher.verify(stored_hash if usable else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return matched and usable


def rehash_if_needed(person: Person, password: str) -> None:
    """Upgrade the stored hash when the hashing parameters have been raised."""
    if _hasher.check_needs_rehash(person.password_hash):
        person.password_hash = _hasher.hash(password)


def authenticate(db: Session, login_or_contract: str, password: str) -> Person | None:
    """The person whose password this is, or None; the same work in both cases."""
    person = find_person(db, login_or_contract)
    if not verify(person.password_hash if person else None, password) or person is None:
        return None
    rehash_if_needed(person, password)
    return person


def secrets_digits(length: int) -> list[str]:
    """Random decimal digits, for codes typed from an SMS."""
    return [secrets.choice(string.digits) for _ in range(length)]


def has_cyrillic(text: str) -> bool:
    """True when the text holds Russian letters: the usual sign of the wrong keyboard layout."""
    return any("\u0400" <= ch <= "\u04ff" for ch in text)


@dataclass(frozen=True)
class NewSession:
    token: str  # goes into the cookie; never stored
    record: LoginSession


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    db: Session,
    person: Person,
    *,
    remember: bool,
    lifetime: timedelta,
    address: str | None,
    user_agent: str | None,
    viewer_staff_id: int | None = None,
) -> NewSession:
    """A new sign-in session of the person; `viewer_staff_id` makes it a staff member's
    read-only view of the person's pages (portal.domain.auth.view_as)."""
    token = secrets.token_urlsafe(32)
    moment = clock.now()
    record = LoginSession(
        person_id=person.id,
        token_hash=token_hash(token),
        remember=remember,
        viewer_staff_id=viewer_staff_id,
        created_at=moment,
        last_seen_at=moment,
        expires_at=moment + lifetime,
        address=(address or "")[:64] or None,
        user_agent=(user_agent or "")[:300] or None,
    )
    db.add(record)
    db.flush()
    return NewSession(token, record)


# Sliding expiry is written at most this often, so a page view rarely writes.
_TOUCH_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class LiveSession:
    """What a request needs of its sign-in session, read with the person in one statement
    (a plain value, not a LoginSession: loading a second entity on every request costs
    SQLAlchemy more than the query does)."""

    id: int
    person: Person
    remember: bool
    viewer_staff_id: int | None
    last_seen_at: datetime
    expires_at: datetime
    touched: bool = False  # its expiry was moved: the caller commits


# Every request runs them: built once, because building a statement and its cache key
# costs SQLAlchemy more than running it (the values go in as parameters).
_LIVE_SESSION = (
    sa.select(
        Person,  # every page wants the person
        LoginSession.id,
        LoginSession.remember,
        LoginSession.viewer_staff_id,
        LoginSession.last_seen_at,
        LoginSession.expires_at,
    )
    .join_from(LoginSession, Person, LoginSession.person_id == Person.id)
    .where(LoginSession.token_hash == sa.bindparam("token_hash"), LoginSession.ended_at.is_(None))
)
_TOUCH = (
    sa.update(LoginSession)
    .where(LoginSession.id == sa.bindparam("session_id"), LoginSession.ended_at.is_(None))
    .values(last_seen_at=sa.bindparam("seen"), expires_at=sa.bindparam("until"))
    .execution_options(synchronize_session=False)
)


def live_session(db: Session, token: str) -> LiveSession | None:
    """The session for a cookie's token if it is neither ended nor expired (read only):
    read from the database each time, so a session ended anywhere is over at once."""
    if not token or len(token) > 100:
        return None
    row = db.execute(_LIVE_SESSION, {"token_hash": token_hash(token)}).first()
    if row is None:
        return None
    person, session_id, remember, viewer_staff_id, last_seen_at, expires_at = row
    if expires_at <= clock.now():
        return None
    return LiveSession(session_id, person, remember, viewer_staff_id, last_seen_at, expires_at)


def resume_session(
    db: Session, token: str, *, idle: timedelta, remembered: timedelta
) -> LiveSession | None:
    """The live session for a cookie's token, with its expiry moved forward by `idle`
    (or `remembered` for "stay signed in"); None if it is unknown, ended or expired.
    When it moved (`touched`), the caller commits."""
    record = live_session(db, token)
    if record is None or record.viewer_staff_id is not None:
        return record  # a staff member's view keeps its short lifetime and writes nothing
    moment = clock.now()
    if moment - record.last_seen_at < _TOUCH_EVERY:
        return record
    until = moment + (remembered if record.remember else idle)
    db.execute(_TOUCH, {"session_id": record.id, "seen": moment, "until": until})
    return replace(record, last_seen_at=moment, expires_at=until, touched=True)


def end_session(db: Session, token: str) -> None:
    record = db.scalar(sa.select(LoginSession).where(LoginSession.token_hash == token_hash(token)))
    if record is not None and record.ended_at is None:
        record.ended_at = clock.now()


def end_other_sessions(db: Session, person_id: int, keep_token: str | None = None) -> int:
    """End every session of the person but the one with keep_token; returns how many.
    A staff member's view of the person's pages is not theirs: it runs out by itself."""
    query = sa.update(LoginSession).where(
        LoginSession.person_id == person_id,
        LoginSession.ended_at.is_(None),
        LoginSession.viewer_staff_id.is_(None),
    )
    if keep_token:
        query = query.where(LoginSession.token_hash != token_hash(keep_token))
    result = db.execute(query.values(ended_at=clock.now()))
    return result.rowcount or 0
