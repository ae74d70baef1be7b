"""The provider's staff: accounts, roles, sign-in with a second factor, and sessions.

Staff sessions mirror the subscribers' (portal.domain.auth.credentials): the cookie carries a
random token, the table only its hash, so ending a session here ends it for any copy of
the cookie. Passwords are argon2id hashes checked with the same equal-time `verify`.
Wrong passwords and codes count against the member's account and pause sign-in from new
devices (portal.domain.auth.lockout).

The admin keeps the team: creates members, changes roles, deactivates and reactivates,
resets a password or the second factor. Each change is an audit event with what changed
(never a secret), and each that takes access away ends the member's sessions. An admin
never deactivates or demotes themself, and the last active admin stays one.
"""

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit, totp
from portal.domain.auth import credentials, lockout, view_as
from portal.domain.auth.devices import Device
from portal.domain.errors import (
    DomainError,
    DuplicateLogin,
    InvalidInput,
    LastAdmin,
    OwnAccount,
)
from portal.models import StaffMember, StaffRecoveryCode, StaffRole, StaffSession

LOGIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")
NAME_MAX = 200
PASSWORD_MIN = 12  # staff can move money and credentials: longer than a subscriber's
GENERATED_LENGTH = 16
# Wrong codes after the password before the half-open session ends (password again).
MAX_CODE_FAILURES = 5


class AlreadyEnrolled(DomainError):
    """The member has a second factor: another key replaces it only after an admin has
    reset it (reset_second_factor), never on the strength of a session alone."""


@dataclass(frozen=True)
class NewStaff:
    member: StaffMember
    password: str  # shown once


def may(role: StaffRole, allowed: frozenset[StaffRole]) -> bool:
    """Whether a role may use what `allowed` names; the admin may use everything."""
    return role is StaffRole.ADMIN or role in allowed


def _role(role: str) -> StaffRole:
    try:
        return StaffRole(role)
    except ValueError:
        raise InvalidInput("role: one of " + ", ".join(r.value for r in StaffRole)) from None


def create_staff(
    db: Session,
    *,
    login: str,
    name: str,
    role: str,
    password: str | None = None,
    actor: str,
    address: str | None = None,
) -> NewStaff:
    """A staff account; a readable password is generated when none is given."""
    login, name = login.strip(), name.strip()
    if not LOGIN_RE.match(login):
        raise InvalidInput("login: 3 to 64 Latin letters, digits, '.', '_' or '-'")
    if not name or len(name) > NAME_MAX:
        raise InvalidInput(f"name: 1 to {NAME_MAX} characters")
    the_role = _role(role)
    if password is not None and not PASSWORD_MIN <= len(password) <= credentials.PASSWORD_MAX:
        raise InvalidInput(f"password: {PASSWORD_MIN} to {credentials.PASSWORD_MAX} characters")
    # Sign-in finds a login in any case (find_by_login): "Ivan" beside "ivan" would make
    # one of them unable to sign in, their wrong passwords counted against the other.
    if find_by_login(db, login) is not None:
        raise DuplicateLogin(login)
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
    audit.record(
        db,
        "staff.created",
        actor=actor,
        address=address,
        staff_id=member.id,
        before={},
        after={"login": login, "name": name, "role": the_role.value, "active": True},
    )
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
    device: Device | None = None,
    pause: lockout.StaffPause = lockout.DEFAULT_STAFF_PAUSE,
) -> StaffSignIn | None:
    """A new console session for the right login and password of an active member whose
    sign-in is not paused for this device; None otherwise, after the same work (one hash
    checked), with the failure in the audit log and a wrong password counted."""
    member = find_by_login(db, login)
    usable = member is not None and member.active
    right = credentials.verify(member.password_hash if usable else None, password)
    if not usable:
        reason = "unknown" if member is None else "inactive"
    elif lockout.is_paused(member, device, clock.now()):
        reason = "paused"  # refused whatever the password, and not counted
    elif not right:
        reason = "wrong"
        lockout.note_staff_failure(db, member, pause, address=address)
    else:
        reason = None
    if reason is not None:
        audit.record(
            db,
            "staff.sign_in_failed",
            actor="anonymous",
            address=address,
            login=login[:64],
            reason=reason,
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
    if verified:
        lockout.note_success(member)
    event = "staff.signed_in" if verified else "staff.password_accepted"
    audit.record(db, event, actor=audit.staff_actor(member.id), address=address)
    return StaffSignIn(record, token)


def check_code(
    db: Session,
    record: StaffSession,
    code: str,
    *,
    address: str | None,
    device: Device | None = None,
    pause: lockout.StaffPause = lockout.DEFAULT_STAFF_PAUSE,
) -> bool:
    """The second step: an authenticator code (never one already used) or a recovery
    code. Right: the session is signed in. Wrong: counted for the session (too many end
    it) and for the member's account. While the member's sign-in is paused for this
    device, no code is checked (half-open sessions opened before the pause must not
    keep guessing)."""
    member = record.staff
    moment = clock.now()
    paused = lockout.is_paused(member, device, moment)
    factor = None if paused else _second_factor(db, member, code, moment)
    actor = audit.staff_actor(member.id)
    if factor is None:
        record.code_failures += 1
        audit.record(
            db,
            "staff.code_failed",
            actor=actor,
            address=address,
            reason="paused" if paused else "wrong",
        )
        if not paused:
            lockout.note_staff_failure(db, member, pause, address=address)
        if record.code_failures >= MAX_CODE_FAILURES:
            record.ended_at = moment
        return False
    record.verified = True
    lockout.note_success(member)
    audit.record(db, "staff.signed_in", actor=actor, address=address, factor=factor)
    return True


def _second_factor(db: Session, member: StaffMember, code: str, moment) -> str | None:
    """Which factor the code is (spent now), or None for a wrong code. Each is spent by
    one conditional UPDATE: the same code sent twice at once (seen over a shoulder and
    typed in another browser) finds it spent the second time."""
    step = totp.matching_step(member.totp_secret, code, moment, member.totp_last_step)
    if step is not None and _spend_step(db, member, step):
        return "totp"
    if _use_recovery_code(db, member, code, moment):
        return "recovery_code"
    return None


def _spend_step(db: Session, member: StaffMember, step: int) -> bool:
    last = StaffMember.totp_last_step
    spent = db.execute(
        sa.update(StaffMember)
        .where(StaffMember.id == member.id, sa.or_(last.is_(None), last < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.refresh(member, ["totp_last_step"])
    return spent == 1


def _use_recovery_code(db: Session, member: StaffMember, code: str, moment) -> bool:
    digest = credentials.token_hash(totp.normalised_recovery_code(code))
    used = db.execute(
        sa.update(StaffRecoveryCode)
        .where(
            StaffRecoveryCode.staff_id == member.id,
            StaffRecoveryCode.code_hash == digest,
            StaffRecoveryCode.used_at.is_(None),
        )
        .values(used_at=moment)
        .execution_options(synchronize_session=False)
    ).rowcount
    return used == 1


def enrol(
    db: Session, record: StaffSession, secret: str, code: str, *, address: str | None
) -> list[str] | None:
    """Turn on the second factor with the key the member's app now holds, proven by a
    code from it; the session counts as signed in. Returns the recovery codes (shown
    once; only their hashes are kept), or None for a wrong code. Raises AlreadyEnrolled
    for a member who has a key: a session (a copied cookie, a console left open) must not
    move the second factor to another phone and read its recovery codes."""
    member = record.staff
    if member.totp_secret:
        raise AlreadyEnrolled
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
    audit.record(
        db,
        "staff.totp_enrolled",
        actor=actor,
        address=address,
        before={"second_factor": "none"},
        after={"second_factor": "enrolled", "key": "new", "recovery_codes": len(codes)},
    )
    if not was_verified:
        lockout.note_success(member)
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


def end_sessions(db: Session, staff_id: int) -> int:
    """End every live session of the member (for every copy of the cookies) and every
    view of a subscriber's pages they have open; how many sessions."""
    view_as.end_views_of(db, staff_id, address=None)
    result = db.execute(
        sa.update(StaffSession)
        .where(StaffSession.staff_id == staff_id, StaffSession.ended_at.is_(None))
        .values(ended_at=clock.now())
    )
    return result.rowcount or 0


# --- the admin keeps the team ------------------------------------------------------------


@dataclass(frozen=True)
class TeamMember:
    member: StaffMember
    last_sign_in: datetime | None  # when the newest signed-in session began


def team(db: Session) -> list[TeamMember]:
    """Every staff member, the active ones first, with their last sign-in."""
    last = (
        sa.select(StaffSession.staff_id, sa.func.max(StaffSession.created_at).label("at"))
        .where(StaffSession.verified.is_(True))
        .group_by(StaffSession.staff_id)
        .subquery()
    )
    rows = db.execute(
        sa.select(StaffMember, last.c.at)
        .outerjoin(last, last.c.staff_id == StaffMember.id)
        .order_by(StaffMember.active.desc(), StaffMember.login)
    )
    return [TeamMember(member, at) for member, at in rows]


def _record_change(
    db: Session,
    event: str,
    member: StaffMember,
    *,
    by: StaffMember | None,
    address: str | None,
    before: dict,
    after: dict,
    **data: object,
) -> None:
    """The audit event of a change to a member's account: who, from where, what it was
    and what it is (never a secret)."""
    audit.record(
        db,
        event,
        actor=audit.staff_actor(by.id) if by is not None else "cli",
        address=address,
        staff_id=member.id,
        before=before,
        after=after,
        **data,
    )


def _keep_an_admin(db: Session, member: StaffMember, by: StaffMember) -> None:
    """Refuse to take the member's admin powers (demotion, deactivation) from the admin
    doing it, or from the last active admin."""
    if member.id == by.id:
        raise OwnAccount
    if member.role is not StaffRole.ADMIN or not member.active:
        return
    # Every active admin's row stays locked until commit (FOR UPDATE on PostgreSQL;
    # SQLite lets one writer in at a time): two admins demoting each other at the same
    # moment must not both count two admins and leave none.
    admins = db.scalars(
        sa.select(StaffMember.id)
        .where(StaffMember.role == StaffRole.ADMIN, StaffMember.active.is_(True))
        .with_for_update()
    ).all()
    if set(admins) <= {member.id}:
        raise LastAdmin


def change_role(
    db: Session, member: StaffMember, role: str, *, by: StaffMember, address: str | None
) -> bool:
    """Give the member another role; False if it is the one they have. A member made
    admin without a second factor is signed out: they enrol at the next sign-in before
    the console opens for them. Any view of a subscriber's pages they have open ends
    (the console reads the role at every request, a view never asks again)."""
    new_role = _role(role)
    if new_role is member.role:
        return False
    if member.role is StaffRole.ADMIN:
        _keep_an_admin(db, member, by)
    before = member.role
    member.role = new_role
    must_enrol = member.totp_secret is None and needs_second_factor(member)
    ended = end_sessions(db, member.id) if must_enrol else 0
    if not must_enrol:
        view_as.end_views_of(db, member.id, address=address, reason="role_changed")
    _record_change(
        db,
        "staff.role_changed",
        member,
        by=by,
        address=address,
        before={"role": before.value},
        after={"role": new_role.value},
        sessions_ended=ended,
    )
    return True


def set_active(
    db: Session, member: StaffMember, active: bool, *, by: StaffMember, address: str | None
) -> bool:
    """Deactivate (every session ends at once) or reactivate the member; False if they
    already are so."""
    if member.active is active:
        return False
    if not active:
        _keep_an_admin(db, member, by)
    member.active = active
    ended = 0 if active else end_sessions(db, member.id)
    _record_change(
        db,
        "staff.reactivated" if active else "staff.deactivated",
        member,
        by=by,
        address=address,
        before={"active": not active},
        after={"active": active},
        sessions_ended=ended,
    )
    return True


def reset_password(
    db: Session, member: StaffMember, *, by: StaffMember | None, address: str | None
) -> str:
    """A new generated password for the member (returned to be shown once; only its hash
    is kept). Their sessions end, their devices are trusted no more, and their count of
    wrong passwords starts again: this is the way back for a member whose sign-in is
    paused. `by` None: from the shell (`portal staff password`)."""
    password = credentials.generate_password(GENERATED_LENGTH)
    member.password_hash = credentials.hash_password(password)
    member.password_changed_at = clock.now()
    before: dict[str, object] = {"password": "previous"}
    after: dict[str, object] = {"password": "changed"}
    if member.failed_sign_ins:
        before["failed_sign_ins"], after["failed_sign_ins"] = member.failed_sign_ins, 0
    lockout.note_success(member)
    ended = end_sessions(db, member.id)
    _record_change(
        db,
        "staff.password_reset",
        member,
        by=by,
        address=address,
        before=before,
        after=after,
        sessions_ended=ended,
    )
    return password


def reset_second_factor(
    db: Session, member: StaffMember, *, by: StaffMember, address: str | None
) -> bool:
    """Remove the member's authenticator key and recovery codes (a lost phone); their
    sessions end. An admin enrols again at the next sign-in, the others may. False if
    the member has no second factor."""
    if member.totp_secret is None:
        return False
    member.totp_secret = None
    member.totp_last_step = None
    removed = db.execute(
        sa.delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_id == member.id)
    ).rowcount
    ended = end_sessions(db, member.id)
    _record_change(
        db,
        "staff.second_factor_reset",
        member,
        by=by,
        address=address,
        before={"second_factor": "enrolled"},
        after={"second_factor": "reset"},
        recovery_codes_removed=removed or 0,
        sessions_ended=ended,
    )
    return True
