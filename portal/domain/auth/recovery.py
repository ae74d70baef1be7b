"""Password recovery by contract number and phone: a one-time password by SMS.

The rules (OWASP ASVS / NIST SP 800-63B for a system-made secret):
- the answer to a request is the same whether or not the pair matches, and the same work
  is done either way (a secret is made and hashed in every branch);
- the secret is stored only as a hash, works once, expires, and is long enough (at least
  64 bits) that no limit of tries on it is needed: a wrong password at sign-in is as
  much a guess at the password as at the secret, so counting those against the secret
  would let anyone who knows the login kill each one the owner asks for; a new request
  replaces the pending one;
- the old password keeps working until the secret is used, so a stranger who knows a
  contract and a phone cannot lock anyone out;
- only requests whose contract and phone match count against the limits on SMS for that
  contract (its holder) and that phone, counted from the SMS outbox; a matching request
  over a limit gets the same answer and sends nothing, so a stranger typing wrong phones
  blocks nobody and no answer tells a match (the web layer limits each address);
- using the secret (signin.sign_in) ends every other session, and the subscriber must
  choose an own password before anything else.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import limits
import sqlalchemy as sa
from flask_babel import ngettext
from sqlalchemy.orm import Session

from portal import clock
from portal.domain import audit, notifications, sms
from portal.domain.auth import credentials
from portal.models import Account, PasswordRecovery, Person, SmsMessage

CONTRACT_MAX = 32
# 11 of the 57 readable letters and digits: 64.2 bits (NIST SP 800-63B asks no limit of
# wrong tries on one secret from 64 bits up).
SECRET_LENGTH = 11

# How many SMS in how long: ((3, 1 hour), (5, 1 day)).
Quota = tuple[tuple[int, timedelta], ...]


def parse_quota(text: str) -> Quota:
    """A limit in Flask-Limiter's words ("3 per hour;5 per day") as (amount, window)s."""
    return tuple(
        (item.amount, timedelta(seconds=item.get_expiry())) for item in limits.parse_many(text)
    )


@dataclass(frozen=True)
class RecoveryPolicy:
    """How long a secret (or a phone code) lives, how many wrong tries kill a phone code,
    and the provider's name for the texts."""

    secret_ttl: timedelta = timedelta(minutes=15)
    max_failures: int = 5
    provider_name: str = "OneCity"
    per_contract: Quota = ((3, timedelta(hours=1)), (5, timedelta(days=1)))
    per_phone: Quota = ((5, timedelta(days=1)),)
    # Seals the texts that carry a secret while they wait in the SMS outbox.
    secret_key: str = ""

    @classmethod
    def from_config(cls, config: Mapping) -> "RecoveryPolicy":
        return cls(
            secret_ttl=timedelta(minutes=int(config["PORTAL_RECOVERY_TTL_MINUTES"])),
            max_failures=int(config["PORTAL_RECOVERY_MAX_FAILURES"]),
            provider_name=config["PORTAL_PROVIDER_NAME"],
            per_contract=parse_quota(config["PORTAL_RECOVERY_LIMIT_CONTRACT"]),
            per_phone=parse_quota(config["PORTAL_RECOVERY_LIMIT_PHONE"]),
            secret_key=config["SECRET_KEY"],
        )


def request_new_password(
    db: Session,
    contract_number: str,
    phone_e164: str,
    policy: RecoveryPolicy,
    *,
    address: str | None,
) -> None:
    """Send a recovery secret when the contract and phone belong together; otherwise do
    the same work and send nothing. Returns nothing: the caller must not be able to tell."""
    secret = credentials.generate_password(SECRET_LENGTH)
    secret_hash = credentials.hash_password(secret)  # the costly step, done in every branch
    account = _account_with_phone(db, contract_number, phone_e164)
    over_quota = _over_quota(db, contract_number, phone_e164, policy)  # in every branch too
    audit.record(
        db,
        "recovery.requested",
        actor="anonymous",
        address=address,
        person_id=account.person_id if account else None,
        account_id=account.id if account else None,
        contract=contract_number[:CONTRACT_MAX],
        matched=account is not None,
        over_quota=account is not None and over_quota,
    )
    if account is None or over_quota:
        return
    _store_secret(db, account, secret_hash, policy)
    sms.queue(
        db,
        to_phone=account.person.phone,
        text=_recovery_text(policy.provider_name, account.person, secret, policy),
        purpose="recovery",
        person_id=account.person_id,
        sensitive=True,
        secret_key=policy.secret_key,
    )


def _account_with_phone(db: Session, contract_number: str, phone_e164: str) -> Account | None:
    return db.scalar(
        sa.select(Account)
        .join(Person, Person.id == Account.person_id)
        .where(Account.contract_number == contract_number, Person.phone == phone_e164)
    )


def _over_quota(db: Session, contract_number: str, phone_e164: str, policy: RecoveryPolicy) -> bool:
    """Whether the contract's holder or the phone has had as many recovery SMS as allowed.

    Counted from the outbox, so only requests that matched (and sent) count."""
    now = clock.now()
    recovery_sms = sa.select(SmsMessage.created_at).where(SmsMessage.purpose == "recovery")
    holder = sa.select(Account.person_id).where(Account.contract_number == contract_number)
    people_with_phone = sa.select(Person.id).where(Person.phone == phone_e164)
    for quota, query in [
        (policy.per_contract, recovery_sms.where(SmsMessage.person_id.in_(holder))),
        (
            policy.per_phone,
            recovery_sms.where(
                SmsMessage.person_id.in_(people_with_phone), SmsMessage.to_phone == phone_e164
            ),
        ),
    ]:
        if sent_up_to(db, query, quota, now):
            return True
    return False


def sent_up_to(db: Session, sent: sa.Select, quota: Quota, now=None) -> bool:
    """Whether the messages `sent` (a select of SmsMessage.created_at) fill any of the
    quota's windows up to now."""
    if not quota:
        return False
    now = now or clock.now()
    longest = max(window for _amount, window in quota)
    moments = db.scalars(sent.where(SmsMessage.created_at > now - longest)).all()
    return any(sum(1 for at in moments if at > now - window) >= amount for amount, window in quota)


def _store_secret(db: Session, account: Account, secret_hash: str, policy: RecoveryPolicy) -> None:
    moment = clock.now()
    pending = db.scalar(
        sa.select(PasswordRecovery).where(PasswordRecovery.person_id == account.person_id)
    )
    if pending is None:
        pending = PasswordRecovery(person_id=account.person_id)
        db.add(pending)
    pending.account_id = account.id
    pending.secret_hash = secret_hash
    pending.issued_at = moment
    pending.expires_at = moment + policy.secret_ttl
    pending.used_at = None
    db.flush()


def _recovery_text(provider: str, person: Person, secret: str, policy: RecoveryPolicy) -> str:
    with notifications.in_language_of(person):
        return ngettext(
            "%(provider)s: new password %(secret)s to sign in with the login %(login)s. It "
            "works once, for %(num)d minute. If you did not ask for a password, do nothing.",
            "%(provider)s: new password %(secret)s to sign in with the login %(login)s. It "
            "works once, for %(num)d minutes. If you did not ask for a password, do nothing.",
            int(policy.secret_ttl.total_seconds() // 60),
            provider=provider,
            secret=secret,
            login=person.login,
        )


# --- the secret at sign-in (portal.domain.auth.signin) --------------------------------


def live_secret(db: Session, person: Person, policy: RecoveryPolicy) -> PasswordRecovery | None:
    """The person's pending secret if it may still be used."""
    pending = db.scalar(sa.select(PasswordRecovery).where(PasswordRecovery.person_id == person.id))
    if pending is None or pending.used_at is not None or pending.expires_at <= clock.now():
        return None
    return pending


def use_secret(db: Session, person: Person, pending: PasswordRecovery) -> None:
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
