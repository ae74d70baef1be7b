"""The signed-in subscriber's own credentials: choosing a password, changing the phone.

Each change is an audit event, and the phone is told (the old one, for a new number), so
a stranger holding a session cannot change them unnoticed. Both ask for the current
password first; a wrong one is an audit event and counts against the account as a
wrong password at sign-in does (portal.domain.auth.lockout); the web layer limits how
often it may be tried.
"""

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit, notifications, phones, sms
from portal.domain.auth import credentials, lockout, recovery
from portal.domain.auth.recovery import RecoveryPolicy
from portal.domain.auth.signin import SignInPolicy
from portal.domain.errors import DomainError, InvalidInput
from portal.models import Person, PhoneChange, SmsMessage

PHONE_CODE_LENGTH = 6


class WrongPassword(DomainError):
    """The current password was wrong. The failure is recorded in the session: commit it."""


class TooManyCodes(DomainError):
    """As many codes have gone to new numbers of the person as their contract may have
    recovery SMS (RecoveryPolicy.per_contract): nothing is sent."""


def confirm_current_password(
    db: Session,
    person: Person,
    password: str,
    policy: SignInPolicy,
    *,
    purpose: str,
    address: str | None,
) -> None:
    """Raise WrongPassword (an audit event, one more failure for the account) unless the
    password is the person's; the right one starts the account's failure count again."""
    if credentials.verify(person.password_hash, password):
        lockout.note_success(person)
        return
    audit.record(
        db,
        "profile.password_check_failed",
        actor=audit.person_actor(person.id),
        person_id=person.id,
        address=address,
        purpose=purpose,
    )
    lockout.note_failure(
        db,
        person,
        max_failures=policy.max_failures,
        provider_name=policy.recovery.provider_name,
        address=address,
    )
    raise WrongPassword


# --- choosing an own password --------------------------------------------------------


def check_new_password(person: Person, new_password: str, policy: RecoveryPolicy) -> None:
    """8 to 128 characters, no composition rules; not the contract, login or provider."""
    if not credentials.PASSWORD_MIN <= len(new_password) <= credentials.PASSWORD_MAX:
        raise InvalidInput("length")
    folded = new_password.strip().casefold()
    forbidden = {person.login.casefold(), policy.provider_name.casefold()}
    forbidden |= {a.contract_number.casefold() for a in person.accounts}
    forbidden |= {a.personal_account.casefold() for a in person.accounts}
    if folded in forbidden:
        raise InvalidInput("guessable")


def change_password(
    db: Session,
    person: Person,
    current_password: str,
    new_password: str,
    policy: SignInPolicy,
    *,
    keep_session_token: str | None,
    address: str | None,
) -> None:
    """Set the person's own password; every other session ends and the phone is told.

    The current password is asked unless a recovery secret was just used (then there is
    none). Raises WrongPassword or InvalidInput."""
    forced = person.must_change_password
    if not forced:
        confirm_current_password(
            db, person, current_password, policy, purpose="password", address=address
        )
    check_new_password(person, new_password, policy.recovery)
    person.password_hash = credentials.hash_password(new_password)
    person.must_change_password = False
    person.password_changed_at = clock.now()
    person.password_changed_from = (address or "")[:64] or None
    ended = credentials.end_other_sessions(db, person.id, keep_token=keep_session_token)
    audit.record(
        db,
        "password.changed",
        actor=audit.person_actor(person.id),
        person_id=person.id,
        address=address,
        after_recovery=forced,
        sessions_ended=ended,
    )
    with notifications.in_language_of(person):
        text = _(
            "%(provider)s: the password of your personal account is changed. If it was not "
            "you, call support.",
            provider=policy.recovery.provider_name,
        )
    sms.queue(
        db,
        to_phone=person.phone,
        text=text,
        purpose="password_changed",
        person_id=person.id,
    )


def reissue_password(
    db: Session, person: Person, *, provider_name: str, actor: str, address: str | None
) -> str:
    """A new password made by the provider's staff (the subscriber lost theirs): the old
    one and every session end, trusted devices are trusted no more, the phone is told.
    Returns the new password, to be printed once."""
    password = credentials.generate_password()
    before = {
        "password": audit.PASSWORD_PREVIOUS,
        "must_change_password": person.must_change_password,
        "failed_sign_ins": person.failed_sign_ins,
    }
    person.password_hash = credentials.hash_password(password)
    person.must_change_password = False
    person.failed_sign_ins = 0
    person.password_changed_at = clock.now()
    person.password_changed_from = None
    ended = credentials.end_other_sessions(db, person.id)
    after = {
        "password": audit.PASSWORD_CHANGED,
        "must_change_password": False,
        "failed_sign_ins": 0,
    }
    audit.record(
        db,
        "password.reissued",
        actor=actor,
        person_id=person.id,
        address=address,
        sessions_ended=ended,
        **audit.changes(before, after),
    )
    with notifications.in_language_of(person):
        text = _(
            "%(provider)s: the password of your personal account is changed at the "
            "provider's office. If you did not ask for it, call support.",
            provider=provider_name,
        )
    sms.queue(
        db,
        to_phone=person.phone,
        text=text,
        purpose="password_changed",
        person_id=person.id,
    )
    return password


# --- changing the phone number -------------------------------------------------------


def start_phone_change(
    db: Session,
    person: Person,
    password: str,
    new_phone_raw: str,
    policy: SignInPolicy,
    *,
    address: str | None,
) -> str:
    """Send a code to the new number once the password is confirmed; returns the number
    in E.164. Raises WrongPassword, InvalidInput or TooManyCodes (each code is an SMS to
    a number of the subscriber's choice, and five more guesses at the code)."""
    confirm_current_password(db, person, password, policy, purpose="phone", address=address)
    new_phone = phones.to_e164(new_phone_raw)
    if new_phone == person.phone:
        raise InvalidInput("same phone")
    codes_sent = sa.select(SmsMessage.created_at).where(
        SmsMessage.purpose == "phone_code", SmsMessage.person_id == person.id
    )
    if recovery.sent_up_to(db, codes_sent, policy.recovery.per_contract):
        raise TooManyCodes
    code = "".join(credentials.secrets_digits(PHONE_CODE_LENGTH))
    moment = clock.now()
    pending = db.scalar(sa.select(PhoneChange).where(PhoneChange.person_id == person.id))
    if pending is None:
        pending = PhoneChange(person_id=person.id, failed_attempts=0)
        db.add(pending)
    pending.new_phone = new_phone
    pending.code_hash = credentials.hash_password(code)
    pending.issued_at = moment
    pending.expires_at = moment + policy.recovery.secret_ttl
    pending.failed_attempts = 0
    audit.record(
        db,
        "phone.change_requested",
        actor=audit.person_actor(person.id),
        person_id=person.id,
        address=address,
        new_phone=new_phone,
    )
    with notifications.in_language_of(person):
        text = _(
            "%(provider)s: the code to confirm the number is %(code)s.",
            provider=policy.recovery.provider_name,
            code=code,
        )
    sms.queue(
        db,
        to_phone=new_phone,
        text=text,
        purpose="phone_code",
        person_id=person.id,
        sensitive=True,
        secret_key=policy.recovery.secret_key,
    )
    db.flush()
    return new_phone


def pending_phone_change(db: Session, person: Person, policy: RecoveryPolicy) -> PhoneChange | None:
    pending = db.scalar(sa.select(PhoneChange).where(PhoneChange.person_id == person.id))
    if (
        pending is None
        or pending.expires_at <= clock.now()
        or pending.failed_attempts >= policy.max_failures
    ):
        return None
    return pending


def confirm_phone_change(
    db: Session, person: Person, code: str, policy: RecoveryPolicy, *, address: str | None
) -> bool:
    """Move the person to the new number when the code is right; the old number is told."""
    pending = pending_phone_change(db, person, policy)
    if pending is None:
        raise InvalidInput("no pending change")
    if not credentials.verify(pending.code_hash, code.strip()):
        pending.failed_attempts += 1
        return False
    old_phone = person.phone
    person.phone = pending.new_phone
    db.delete(pending)
    audit.record(
        db,
        "phone.changed",
        actor=audit.person_actor(person.id),
        person_id=person.id,
        address=address,
        old_phone=old_phone,
        new_phone=person.phone,
    )
    with notifications.in_language_of(person):
        text = _(
            "%(provider)s: the phone number of your personal account is replaced with "
            "another one. If it was not you, call support.",
            provider=policy.provider_name,
        )
    sms.queue(
        db,
        to_phone=old_phone,
        text=text,
        purpose="phone_changed",
        person_id=person.id,
    )
    return True
