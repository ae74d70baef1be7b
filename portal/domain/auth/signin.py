"""Signing in and out: the whole use case, ready to commit.

Sign-in finds the person by login or contract number, checks the password (or a pending
recovery secret, which it spends), keeps the account's count of wrong passwords
(portal.domain.auth.lockout: at the limit only a trusted device or a recovery secret
signs in), starts the server-side session and records the audit events. A wrong
password, an unknown login and a paused account take the same work and give the same
result (None), so neither the answer nor its timing says which one it was.
"""

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from portal.domain import audit
from portal.domain.auth import credentials, lockout, recovery
from portal.domain.auth.devices import Device
from portal.domain.push import subscriptions
from portal.models import Person

IDENTIFIER_MAX = credentials.LOGIN_MAX


@dataclass(frozen=True)
class SignInPolicy:
    """Session lifetimes, the account's limit of wrong passwords in a row, and the
    recovery secret's rules."""

    recovery: recovery.RecoveryPolicy
    session_idle: timedelta
    session_remembered: timedelta
    max_failures: int = lockout.DEFAULT_MAX_FAILURES

    @classmethod
    def from_config(cls, config: Mapping) -> "SignInPolicy":
        return cls(
            recovery=recovery.RecoveryPolicy.from_config(config),
            session_idle=config["PORTAL_SESSION_IDLE"],
            session_remembered=config["REMEMBER_COOKIE_DURATION"],
            max_failures=int(config["PORTAL_LOGIN_MAX_FAILURES"]),
        )

    def session_lifetime(self, remember: bool) -> timedelta:
        return self.session_remembered if remember else self.session_idle


@dataclass(frozen=True)
class Attempt:
    """What the sign-in form said, and where it came from."""

    login_or_contract: str
    password: str
    remember: bool
    address: str | None
    user_agent: str | None
    device: Device | None = None  # the trusted-device cookie the browser sent, if valid


@dataclass(frozen=True)
class SignedIn:
    person: Person
    session: credentials.NewSession
    by_recovery_secret: bool


def sign_in(db: Session, attempt: Attempt, policy: SignInPolicy) -> SignedIn | None:
    """Sign the person in with their password or pending recovery secret: a new
    server-side session and the audit events; None (and a failure recorded) otherwise."""
    checked = _check(db, attempt, policy)
    if isinstance(checked, str):
        audit.record(
            db,
            "auth.sign_in_failed",
            actor="anonymous",
            address=attempt.address,
            login=attempt.login_or_contract.strip()[:IDENTIFIER_MAX],
            reason=checked,
        )
        return None
    person, by_secret = checked
    lockout.note_success(person)
    new = credentials.start_session(
        db,
        person,
        remember=attempt.remember,
        lifetime=policy.session_lifetime(attempt.remember),
        address=attempt.address,
        user_agent=attempt.user_agent,
    )
    audit.record(
        db,
        "auth.signed_in",
        actor=audit.person_actor(person.id),
        person_id=person.id,
        address=attempt.address,
        remember=attempt.remember,
        trusted_device=bool(attempt.device and attempt.device.trusts(person)),
    )
    return SignedIn(person, new, by_recovery_secret=by_secret)


def _check(db: Session, attempt: Attempt, policy: SignInPolicy) -> tuple[Person, bool] | str:
    """The person and whether the recovery secret was used; else why not (for the audit).

    Two hashes are checked in every case (the password, then the secret or a stand-in),
    so the time taken says nothing about whether a recovery is pending."""
    person = credentials.find_person(db, attempt.login_or_contract)
    by_password = credentials.verify(person.password_hash if person else None, attempt.password)
    pending = recovery.live_secret(db, person, policy.recovery) if person else None
    by_secret = credentials.verify(pending.secret_hash if pending else None, attempt.password)
    if person is None:
        return "unknown"  # no count for a login that does not exist
    paused = lockout.is_locked(person, policy.max_failures) and not (
        attempt.device and attempt.device.trusts(person)
    )
    if by_password and not paused:
        credentials.rehash_if_needed(person, attempt.password)
        return person, False
    if pending is not None and by_secret:
        recovery.use_secret(db, person, pending)
        return person, True
    lockout.note_failure(
        db,
        person,
        max_failures=policy.max_failures,
        provider_name=policy.recovery.provider_name,
        address=attempt.address,
    )
    return "paused" if by_password else "wrong"


def trusted_device(db: Session, login_or_contract: str, device: Device | None) -> bool:
    """Whether the device has signed in before as the person this login names."""
    if device is None:
        return False
    person = credentials.find_person(db, login_or_contract)
    return person is not None and device.trusts(person)


def sign_out(
    db: Session,
    person_id: int,
    token: str,
    *,
    address: str | None,
    push_endpoint: str | None = None,
) -> None:
    """End the session this token opened (for every copy of the cookie), and stop push to
    the device signed out on (its browser's `push_endpoint`, when the page knew it), so
    that the next person on a shared phone does not get this person's notifications."""
    credentials.end_session(db, token)
    # An endpoint no browser sends is no device's, so there is nothing to forget; what
    # the page said about push never stops the sign-out. Someone else's is left alone.
    if push_endpoint:
        with suppress(subscriptions.InvalidSubscription):
            subscriptions.unsubscribe(db, person_id, push_endpoint)
    audit.record(
        db,
        "auth.signed_out",
        actor=audit.person_actor(person_id),
        person_id=person_id,
        address=address,
    )
