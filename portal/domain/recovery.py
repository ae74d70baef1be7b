"""Password recovery by contract number and phone, and the subscriber's own password
and phone changes.

The rules (OWASP ASVS / NIST SP 800-63B for a system-made secret):
- the answer to a request is the same whether or not the pair matches, and the same work
  is done either way (a secret is made and hashed in every branch);
- the secret is stored only as a hash, works once, expires, and dies after too many
  wrong tries; a new request replaces the pending one but keeps its failure count;
- the old password keeps working until the secret is used, so a stranger who knows a
  contract and a phone cannot lock anyone out;
- using the secret ends every other session, and the subscriber must choose an own
  password before anything else; the phone is told when the password changes.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit, credentials, phones, sms
from portal.domain.errors import InvalidInput
from portal.models import Account, PasswordRecovery, Person, PhoneChange

CONTRACT_MAX = 32
PASSWORD_MIN = 8
PASSWORD_MAX = credentials.PASSWORD_MAX
SECRET_LENGTH = 10
PHONE_CODE_LENGTH = 6


@dataclass(frozen=True)
class Policy:
    secret_ttl: timedelta = timedelta(minutes=15)
    max_failures: int = 5
    failure_window: timedelta = timedelta(hours=24)
    provider_name: str = "OneCity"

    @classmethod
    def from_config(cls, config: Mapping) -> "Policy":
        return cls(
            secret_ttl=timedelta(minutes=int(config["PORTAL_RECOVERY_TTL_MINUTES"])),
            max_failures=int(config["PORTAL_RECOVERY_MAX_FAILURES"]),
            failure_window=timedelta(hours=int(config["PORTAL_RECOVERY_WINDOW_HOURS"])),
            provider_name=config["PORTAL_PROVIDER_NAME"],
        )


# --- asking for a new password -------------------------------------------------------


def request_new_password(
    db: Session, contract_number: str, phone_e164: str, policy: Policy, *, address: str | None
) -> None:
    """Send a recovery secret when the contract and phone belong together; otherwise do
    the same work and send nothing. Returns nothing: the caller must not be able to tell."""
    secret = credentials.generate_password(SECRET_LENGTH)
    secret_hash = credentials.hash_password(secret)  # the costly step, done in every branch
    account = _account_with_phone(db, contract_number, phone_e164)
    audit.record(
        db,
        "recovery.requested",
        actor="anonymous",
        address=address,
        person_id=account.person_id if account else None,
        account_id=account.id if account else None,
        contract=contract_number[:CONTRACT_MAX],
        matched=account is not None,
    )
    if account is None:
        return
    _store_secret(db, account, secret_hash, policy)
    sms.queue(
        db,
        to_phone=account.person.phone,
        text=_recovery_text(policy.provider_name, account.person.login, secret, policy),
        purpose="recovery",
        person_id=account.person_id,
        sensitive=True,
    )


def _account_with_phone(db: Session, contract_number: str, phone_e164: str) -> Account | None:
    return db.scalar(
        sa.select(Account)
        .join(Person, Person.id == Account.person_id)
        .where(Account.contract_number == contract_number, Person.phone == phone_e164)
    )


def _store_secret(db: Session, account: Account, secret_hash: str, policy: Policy) -> None:
    moment = clock.now()
    pending = db.scalar(
        sa.select(PasswordRecovery).where(PasswordRecovery.person_id == account.person_id)
    )
    if pending is None:
        pending = PasswordRecovery(person_id=account.person_id, failed_attempts=0)
        db.add(pending)
    if pending.first_issued_at is None or moment - pending.first_issued_at > policy.failure_window:
        # A new window: earlier failures no longer count.
        pending.first_issued_at = moment
        pending.failed_attempts = 0
    pending.account_id = account.id
    pending.secret_hash = secret_hash
    pending.issued_at = moment
    pending.expires_at = moment + policy.secret_ttl
    pending.used_at = None
    db.flush()


def _recovery_text(provider: str, login: str, secret: str, policy: Policy) -> str:
    minutes = int(policy.secret_ttl.total_seconds() // 60)
    return (
        f"{provider}: новый пароль {secret} для входа с логином {login}. "
        f"Действует {minutes} мин., один раз. Если вы не просили пароль, ничего не делайте."
    )


# --- signing in, with the password or the recovery secret ----------------------------


@dataclass(frozen=True)
class SignIn:
    person: Person
    by_recovery_secret: bool


def sign_in(db: Session, login_or_contract: str, password: str, policy: Policy) -> SignIn | None:
    """The person whose password, or pending recovery secret, this is; else None.

    Two hashes are checked in every case (the password, then the secret or a stand-in),
    so the time taken says nothing about whether a recovery is pending."""
    person = credentials.find_person(db, login_or_contract)
    by_password = credentials.verify(person.password_hash if person else None, password)
    pending = _live_secret(db, person, policy) if person else None
    by_secret = credentials.verify(pending.secret_hash if pending else None, password)
    if person is None:
        return None
    if by_password:
        credentials.rehash_if_needed(person, password)
        return SignIn(person, by_recovery_secret=False)
    if pending is None:
        return None
    if not by_secret:
        pending.failed_attempts += 1
        return None
    _use_secret(db, person, pending)
    return SignIn(person, by_recovery_secret=True)


def _live_secret(db: Session, person: Person, policy: Policy) -> PasswordRecovery | None:
    pending = db.scalar(sa.select(PasswordRecovery).where(PasswordRecovery.person_id == person.id))
    if (
        pending is None
        or pending.used_at is not None
        or pending.expires_at <= clock.now()
        or pending.failed_attempts >= policy.max_failures
    ):
        return None
    return pending


def _use_secret(db: Session, person: Person, pending: PasswordRecovery) -> None:
    """The secret is spent: the old password stops working, other sessions end, and an
    own password must be chosen before anything else."""
    pending.used_at = clock.now()
    person.password_hash = credentials.UNUSABLE_HASH
    person.must_change_password = True
    credentials.end_other_sessions(db, person.id)
    audit.record(
        db,
        "recovery.secret_used",
        actor=audit.person_actor(person.id),
        person_id=person.id,
        account_id=pending.account_id,
    )


# --- choosing an own password --------------------------------------------------------


def check_new_password(person: Person, new_password: str, policy: Policy) -> None:
    """8 to 128 characters, no composition rules; not the contract, login or provider."""
    if not PASSWORD_MIN <= len(new_password) <= PASSWORD_MAX:
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
    new_password: str,
    policy: Policy,
    *,
    keep_session_token: str | None,
    address: str | None,
) -> None:
    """Set the person's own password; every other session ends and the phone is told."""
    check_new_password(person, new_password, policy)
    forced = person.must_change_password
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
    sms.queue(
        db,
        to_phone=person.phone,
        text=f"{policy.provider_name}: пароль от личного кабинета изменён. "
        "Если это были не вы, позвоните в поддержку.",
        purpose="password_changed",
        person_id=person.id,
    )


# --- changing the phone number -------------------------------------------------------


def start_phone_change(
    db: Session, person: Person, new_phone_raw: str, policy: Policy, *, address: str | None
) -> str:
    """Send a code to the new number; returns the number in E.164."""
    new_phone = phones.to_e164(new_phone_raw)
    if new_phone == person.phone:
        raise InvalidInput("same phone")
    code = "".join(credentials.secrets_digits(PHONE_CODE_LENGTH))
    moment = clock.now()
    pending = db.scalar(sa.select(PhoneChange).where(PhoneChange.person_id == person.id))
    if pending is None:
        pending = PhoneChange(person_id=person.id, failed_attempts=0)
        db.add(pending)
    pending.new_phone = new_phone
    pending.code_hash = credentials.hash_password(code)
    pending.issued_at = moment
    pending.expires_at = moment + policy.secret_ttl
    pending.failed_attempts = 0
    audit.record(
        db,
        "phone.change_requested",
        actor=audit.person_actor(person.id),
        person_id=person.id,
        address=address,
        new_phone=new_phone,
    )
    sms.queue(
        db,
        to_phone=new_phone,
        text=f"{policy.provider_name}: код подтверждения номера {code}.",
        purpose="phone_code",
        person_id=person.id,
        sensitive=True,
    )
    db.flush()
    return new_phone


def pending_phone_change(db: Session, person: Person, policy: Policy) -> PhoneChange | None:
    pending = db.scalar(sa.select(PhoneChange).where(PhoneChange.person_id == person.id))
    if (
        pending is None
        or pending.expires_at <= clock.now()
        or pending.failed_attempts >= policy.max_failures
    ):
        return None
    return pending


def confirm_phone_change(
    db: Session, person: Person, code: str, policy: Policy, *, address: str | None
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
    sms.queue(
        db,
        to_phone=old_phone,
        text=f"{policy.provider_name}: номер телефона в личном кабинете заменён на другой. "
        "Если это были не вы, позвоните в поддержку.",
        purpose="phone_changed",
        person_id=person.id,
    )
    return True
