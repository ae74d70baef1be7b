"""The provider's staff: accounts, roles, sign-in with a second factor, and sessions.

Staff sessions mirror the subscribers' (portal.domain.auth.credentials): the cookie carries a
random token, the table only its hash, so ending a session here ends it for any copy of
the cookie. Passwords are argon2id hashes checked with the same equal-time `verify`.
"""

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit, totp
from portal.domain.auth import credentials
from portal.domain.errors import DuplicateLogin, InvalidInput
from portal.models import StaffMember, StaffRecoveryCode, StaffRole, StaffSession

LOGIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")
NAME_MAX = 200
PASSWORD_MIN = 12  # staff can move money and credentials: longer than a subscriber's
GENERATED_LENGTH = 16
# Wrong codes after the password before the half-open session ends (password again).
MAX_CODE_FAILURES = 5


@dataclass(frozen=True)
class NewStaff:
    member: StaffMember
    password: str  # shown once


def may(role: StaffRole, allowed: frozenset[StaffRole]) -> bool:
    """Whether a role may use what `allowed` names; the admin may use everything."""
    return role is StaffRole.ADMIN or role in allowed


def create_staff(
    db: Session,
    *,
    login: str,
    name: str,
    role: str,
    password: str | None = None,
    actor: str,
) -> NewStaff:
    """A staff account; a readable password is generated when none is given."""
    login, name = login.strip(), name.strip()
    if not LOGIN_RE.match(login):
        raise InvalidInput("login: 3 to 64 Latin letters, digits, '.', '_' or '-'")
    if not name or len(name) > NAME_MAX:
        raise InvalidInput(f"name: 1 to {NAME_MAX} characters")
    try:
        the_role = StaffRole(role)
    except ValueError:
        raise InvalidInput("role: one of " + ", ".join(r.value for r in StaffRole)) from None
    if password is not None and not PASSWORD_MIN <= len(password) <= credentials.PASSWORD_MAX:
        raise InvalidInput(f"password: {PASSWORD_MIN} to {credentials.PASSWORD_MAX} characters")
    password = password or credentials.generate_password(GENERATED_LENGTH)
    moment = clock.now()
    member = StaffMember(
        login=login,
        name=name,
        role=the_role,
        password_hash=credentials.hash_password(password),
        created_at=moment,
        password_changed_at=moment,
    )
    try:
        with db.begin_nested():
            db.add(member)
            db.flush()
    except IntegrityError:
        raise DuplicateLogin(login) from None
    audit.record(db, "staff.created", actor=actor, staff_id=member.id, role=the_role.value)
    return NewStaff(member, password)


def find_by_login(db: Session, login: str) -> StaffMember | None:
    return db.scalar(
        sa.select(StaffMember).where(sa.func.lower(StaffMember.login) == login.strip().lower())
    )


def needs_second_factor(member: StaffMember) -> bool:
    """Enrolled members always give a code; an admin must enrol before anything else."""
    return member.totp_secret is not None or member.role is StaffRole.ADMIN


@dataclass(frozen=True)
class StaffSignIn:
    session: StaffSession
    token: str  # goes into the cookie; never stored

    @property
    def verified(self) -> bool:
        """False: a code (or enrolment) is still to come."""
        return self.session.verified


def sign_in(
    db: Session,
    login: str,
    password: str,
    *,
    lifetime: timedelta,
    address: str | None,
    user_agent: str | None,
) -> StaffSignIn | None:
    """A new console session for the right login and password of an active member;
    None otherwise, after the same work, with the failure in the audit log."""
    member = find_by_login(db, login)
    usable = member is not None and member.active
    if not credentials.verify(member.password_hash if usable else None, password) or not usable:
        audit.record(
            db, "staff.sign_in_failed", actor="anonymous", address=address, login=login[:64]
        )
        return None
    token = secrets.token_urlsafe(32)
    moment = clock.now()
    verified = not needs_second_factor(member)
    record = StaffSession(
        staff_id=member.id,
        token_hash=credentials.token_hash(token),
        created_at=moment,
        last_seen_at=moment,
        expires_at=moment + lifetime,
        address=(address or "")[:64] or None,
        user_agent=(user_agent or "")[:300] or None,
        verified=verified,
    )
    db.add(record)
    db.flush()
    event = "staff.signed_in" if verified else "staff.password_accepted"
    audit.record(db, event, actor=audit.staff_actor(member.id), address=address)
    return StaffSignIn(record, token)


def check_code(db: Session, record: StaffSession, code: str, *, address: str | None) -> bool:
    """The second step: an authenticator code (never one already used) or a recovery
    code. Right: the session is signed in. Wrong: counted; too many end the session."""
    member = record.staff
    moment = clock.now()
    factor = None
    step = totp.matching_step(member.totp_secret, code, moment, member.totp_last_step)
    if step is not None:
        member.totp_last_step = step
        factor = "totp"
    elif _use_recovery_code(db, member, code, moment):
        factor = "recovery_code"
    actor = audit.staff_actor(member.id)
    if factor is None:
        record.code_failures += 1
        audit.record(db, "staff.code_failed", actor=actor, address=address)
        if record.code_failures >= MAX_CODE_FAILURES:
            record.ended_at = moment
        return False
    record.verified = True
    audit.record(db, "staff.signed_in", actor=actor, address=address, factor=factor)
    return True


def _use_recovery_code(db: Session, member: StaffMember, code: str, moment) -> bool:
    digest = credentials.token_hash(totp.normalised_recovery_code(code))
    found = db.scalar(
        sa.select(StaffRecoveryCode).where(
            StaffRecoveryCode.staff_id == member.id,
            StaffRecoveryCode.code_hash == digest,
            StaffRecoveryCode.used_at.is_(None),
        )
    )
    if found is None:
        return False
    found.used_at = moment
    return True


def enrol(
    db: Session, record: StaffSession, secret: str, code: str, *, address: str | None
) -> list[str] | None:
    """Turn on the second factor with the key the member's app now holds, proven by a
    code from it; the session counts as signed in. Returns the recovery codes (shown
    once; only their hashes are kept), or None for a wrong code."""
    member = record.staff
    step = totp.matching_step(secret, code, clock.now(), None)
    if step is None:
        audit.record(db, "staff.totp_enrol_failed", actor=audit.staff_actor(member.id))
        return None
    member.totp_secret = secret
    member.totp_last_step = step
    db.execute(sa.delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_id == member.id))
    codes = totp.new_recovery_codes()
    db.add_all(
        StaffRecoveryCode(staff_id=member.id, code_hash=credentials.token_hash(c)) for c in codes
    )
    was_verified = record.verified
    record.verified = True
    actor = audit.staff_actor(member.id)
    audit.record(db, "staff.totp_enrolled", actor=actor, address=address)
    if not was_verified:
        audit.record(db, "staff.signed_in", actor=actor, address=address, factor="enrolment")
    return codes


# Sliding expiry is written at most this often, so a page view rarely writes.
_TOUCH_EVERY = timedelta(minutes=1)


def resume_session(db: Session, token: str, *, idle: timedelta) -> StaffSession | None:
    """The live session of an active member for a cookie's token, its expiry moved
    forward by `idle`; None if unknown, ended, expired or the member is deactivated."""
    if not token or len(token) > 100:
        return None
    record = db.scalar(
        sa.select(StaffSession).where(StaffSession.token_hash == credentials.token_hash(token))
    )
    moment = clock.now()
    if record is None or record.ended_at is not None or record.expires_at <= moment:
        return None
    if not record.staff.active:
        return None
    if moment - record.last_seen_at >= _TOUCH_EVERY:
        record.last_seen_at = moment
        record.expires_at = moment + idle
    return record


def end_session(db: Session, token: str, *, address: str | None) -> None:
    record = db.scalar(
        sa.select(StaffSession).where(StaffSession.token_hash == credentials.token_hash(token))
    )
    if record is not None and record.ended_at is None:
        record.ended_at = clock.now()
        audit.record(
            db, "staff.signed_out", actor=audit.staff_actor(record.staff_id), address=address
        )
