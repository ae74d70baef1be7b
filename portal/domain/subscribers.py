"""Creating subscribers as a contract is signed, looking up what they hold, and the
provider's own block of an account."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from portal import clock
from portal.domain import audit, catalog, ledger, phones
from portal.domain.auth import credentials
from portal.domain.billing import debt
from portal.domain.errors import (
    DomainError,
    DuplicateContract,
    DuplicateLogin,
    InvalidInput,
    NotFound,
)
from portal.models import Account, AccountStatus, Person, Service, Subscription, Tariff

CONTRACT_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z/-]{0,31}$")
LOGIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")
NAME_MAX = 200
ADDRESS_MAX = 300
DISTRICT_MAX = 64
PASSWORD_MIN = 8


@dataclass(frozen=True)
class NewSubscriber:
    person: Person
    account: Account
    password: str  # shown once, to be printed in the contract


@dataclass(frozen=True)
class Details:
    """A new subscriber's details, checked and in the form they are stored."""

    contract_number: str
    login: str
    name: str
    phone: str  # E.164
    address: str
    district: str


def check_details(
    *,
    contract_number: str,
    name: str,
    phone: str,
    login: str | None = None,
    address: str = "",
    district: str = "",
) -> Details:
    """The rules a new subscriber's details follow, wherever they come from (the form,
    the shell, an import); InvalidInput names the first one broken ("phone", "name: ...")."""
    contract_number = contract_number.strip()
    login = (login or contract_number).strip()
    name = name.strip()
    if not CONTRACT_RE.match(contract_number):
        raise InvalidInput("contract number: letters, digits, '-' or '/', up to 32")
    if not LOGIN_RE.match(login):
        raise InvalidInput("login: 3 to 64 Latin letters, digits, '.', '_' or '-'")
    if not name or len(name) > NAME_MAX:
        raise InvalidInput(f"name: 1 to {NAME_MAX} characters")
    if len(address) > ADDRESS_MAX:
        raise InvalidInput(f"address: up to {ADDRESS_MAX} characters")
    if len(district.strip()) > DISTRICT_MAX:
        raise InvalidInput(f"district: up to {DISTRICT_MAX} characters")
    return Details(
        contract_number=contract_number,
        login=login,
        name=name,
        phone=phones.to_e164(phone),
        address=address.strip(),
        district=district.strip(),
    )


def create_subscriber(
    db: Session,
    *,
    contract_number: str,
    name: str,
    phone: str,
    login: str | None = None,
    password: str | None = None,
    address: str = "",
    district: str = "",
    personal_account: str | None = None,
    tariff_codes: tuple[str, ...] = (),
    service_codes: tuple[str, ...] = (),
    start: date | None = None,
    actor: str = "cli",
) -> NewSubscriber:
    """A person and their first account, as created when a contract is signed."""
    details = check_details(
        contract_number=contract_number,
        name=name,
        phone=phone,
        login=login,
        address=address,
        district=district,
    )
    contract_number, login, name = details.contract_number, details.login, details.name
    phone_e164 = details.phone
    if password is not None and not PASSWORD_MIN <= len(password) <= credentials.PASSWORD_MAX:
        raise InvalidInput(f"password: {PASSWORD_MIN} to {credentials.PASSWORD_MAX} characters")
    password = password or credentials.generate_password()
    _refuse_taken(db, contract_number, login)
    if personal_account is not None:
        personal_account = _check_personal_account(db, personal_account)

    moment = clock.now()
    person = Person(
        login=login,
        password_hash=credentials.hash_password(password),
        name=name,
        phone=phone_e164,
        created_at=moment,
        password_changed_at=moment,
    )
    try:
        with db.begin_nested():
            db.add(person)
            account = add_account(
                db,
                person,
                contract_number=contract_number,
                address=address,
                district=district,
                personal_account=personal_account,
                tariff_codes=tariff_codes,
                service_codes=service_codes,
                start=start or moment.date(),
            )
    except IntegrityError as exc:
        # Someone took the contract or login between the check and the insert.
        raise DuplicateContract(contract_number) from exc
    audit.record(
        db,
        "subscriber.created",
        actor=actor,
        person_id=person.id,
        account_id=account.id,
        contract=contract_number,
        login=login,
        **created_changes(details, tariff_codes, service_codes),
    )
    return NewSubscriber(person, account, password)


def created_changes(
    details: Details, tariff_codes: tuple[str, ...] = (), service_codes: tuple[str, ...] = ()
) -> dict[str, dict]:
    """The `before` and `after` of a `subscriber.created` event: nothing before, the
    details (never the password) and what is connected after."""
    after = {
        "contract": details.contract_number,
        "login": details.login,
        "name": details.name,
        "phone": details.phone,
        "address": details.address,
        "district": details.district,
        "tariffs": list(tariff_codes),
        "services": list(service_codes),
    }
    return audit.changes({}, {key: value for key, value in after.items() if value})


def add_account(
    db: Session,
    person: Person,
    *,
    contract_number: str,
    address: str = "",
    district: str = "",
    personal_account: str | None = None,
    tariff_codes: tuple[str, ...] = (),
    service_codes: tuple[str, ...] = (),
    start: date,
) -> Account:
    """Another contract for a person who has one already (a flat and a country house)."""
    tariffs = [_by_code(db, Tariff, code) for code in tariff_codes]
    services = [_by_code(db, Service, code) for code in dict.fromkeys(service_codes)]
    catalog.check_contract(tariffs, services)
    account = Account(
        person=person,
        contract_number=contract_number.strip(),
        personal_account=(personal_account or contract_number).strip(),
        address=address.strip(),
        district=district.strip(),
        balance=0,
        created_at=clock.now(),
    )
    account.subscriptions.extend(Subscription(tariff=t, started_on=start) for t in tariffs)
    account.subscriptions.extend(Subscription(service=s, started_on=start) for s in services)
    db.add(account)
    db.flush()
    return account


def _check_personal_account(db: Session, number: str) -> str:
    """A personal account number given apart from the contract's (the shell's
    --account): the contract number's form, and no other account's."""
    number = number.strip()
    if not CONTRACT_RE.match(number):
        raise InvalidInput("personal account: letters, digits, '-' or '/', up to 32")
    if db.scalar(sa.select(Account.id).where(Account.personal_account == number)):
        raise InvalidInput(f"personal account: {number} is another account's")
    return number


def _by_code(db: Session, model, code: str):
    """A tariff or add-on a new contract may include: one that is not archived."""
    item = db.scalar(sa.select(model).where(model.code == code))
    if item is None:
        raise InvalidInput(f"unknown {model.__name__.lower()} {code!r}")
    if item.archived_at is not None:
        raise InvalidInput(f"archived {model.__name__.lower()} {code!r}")
    return item


def _refuse_taken(db: Session, contract_number: str, login: str) -> None:
    refusal = taken(
        contract_number,
        login,
        is_contract=lambda number: bool(
            db.scalar(sa.select(Account.id).where(Account.contract_number == number))
        ),
        is_login=lambda name: bool(
            db.scalar(sa.select(Person.id).where(sa.func.lower(Person.login) == name.lower()))
        ),
    )
    if refusal is not None:
        raise refusal


def taken(
    contract_number: str,
    login: str,
    *,
    is_contract: Callable[[str], bool],
    is_login: Callable[[str], bool],
) -> DuplicateContract | DuplicateLogin | None:
    """Why a new contract and login cannot be had (None when they can), asked through
    `is_contract` and `is_login`: queries for one subscriber, sets for an import."""
    if is_contract(contract_number):
        return DuplicateContract(contract_number)
    if is_login(login):
        return DuplicateLogin(login)
    # Sign-in takes a login or a contract number, so neither may shadow the other.
    if login != contract_number and is_contract(login):
        return DuplicateLogin(login)
    if is_login(contract_number):
        return DuplicateContract(contract_number)
    return None


# --- the provider's block ----------------------------------------------------------

BLOCK_REASON_MAX = 300


class AlreadyBlocked(DomainError):
    """The provider has blocked the account already."""


class NotBlocked(DomainError):
    """The account is not blocked by the provider: there is nothing to unblock."""


def _block_reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if not reason or len(reason) > BLOCK_REASON_MAX:
        raise InvalidInput(f"reason: 1 to {BLOCK_REASON_MAX} characters")
    return reason


def block(
    db: Session, account_id: int, *, reason: str, actor: str, address: str | None = None
) -> Account:
    """The provider blocks the account, with a reason: not a block for debt, so a payment
    does not lift it, and billing (which charges only active accounts) does not charge
    it. From any status; AlreadyBlocked when it is blocked by the provider already. The
    caller commits."""
    reason = _block_reason(reason)
    account = ledger.lock_account(db, account_id)
    if account.status == AccountStatus.BLOCKED_BY_PROVIDER:
        raise AlreadyBlocked(str(account_id))
    _set_status(db, account, AccountStatus.BLOCKED_BY_PROVIDER, reason, actor, address)
    return account


def status_after_unblock(balance: int, block_threshold: int) -> AccountStatus:
    """Where the provider's unblock leaves an account: active, or blocked for debt while
    the balance is below the block threshold (the run's rule; a payment lifts it)."""
    blocked = debt.is_below(balance, block_threshold)
    return AccountStatus.BLOCKED if blocked else AccountStatus.ACTIVE


def unblock(
    db: Session,
    account_id: int,
    *,
    reason: str,
    actor: str,
    block_threshold: int,
    address: str | None = None,
) -> Account:
    """The provider lifts its block, with a reason: the account is active again, or
    blocked for debt when its balance is below `block_threshold`. NotBlocked when the
    provider has not blocked it. The caller commits."""
    reason = _block_reason(reason)
    account = ledger.lock_account(db, account_id)
    if account.status != AccountStatus.BLOCKED_BY_PROVIDER:
        raise NotBlocked(str(account_id))
    status = status_after_unblock(account.balance, block_threshold)
    _set_status(db, account, status, reason, actor, address)
    return account


def _set_status(
    db: Session,
    account: Account,
    status: AccountStatus,
    reason: str,
    actor: str,
    address: str | None,
) -> None:
    """Move an account locked by the caller (as the ledger locks it, so the change never
    crosses a posting) into or out of the provider's block, with the audit event."""
    blocking = status == AccountStatus.BLOCKED_BY_PROVIDER
    before = {"status": account.status.value, "block_reason": account.block_reason}
    account.status = status
    account.block_reason = reason if blocking else None
    after = {"status": account.status.value, "block_reason": account.block_reason}
    audit.record(
        db,
        "account.blocked_by_provider" if blocking else "account.unblocked_by_provider",
        actor=actor,
        person_id=account.person_id,
        account_id=account.id,
        address=address,
        reason=reason,
        balance=account.balance,
        **audit.changes(before, after),
    )
    db.flush()


def account_of(db: Session, person_id: int, account_id: int) -> Account:
    """One of the person's accounts; another person's account is simply not found."""
    account = db.scalar(
        sa.select(Account).where(Account.id == account_id, Account.person_id == person_id)
    )
    if account is None:
        raise NotFound("account")
    return account


# Built once (every page runs one of them): a statement's building and cache key cost
# SQLAlchemy more than running it; the person goes in as a parameter.
_ACCOUNTS_OF = (
    sa.select(Account).where(Account.person_id == sa.bindparam("person_id")).order_by(Account.id)
)
_ACCOUNTS_WITH_SUBSCRIPTIONS = _ACCOUNTS_OF.options(
    joinedload(Account.subscriptions).options(
        joinedload(Subscription.tariff), joinedload(Subscription.service)
    )
)


def accounts_of(db: Session, person_id: int, *, with_subscriptions: bool = False) -> list[Account]:
    """The person's accounts, oldest first; `with_subscriptions`: their subscriptions with
    tariffs and add-ons read in the same statement (joined: one round trip, not one per
    object; a person has a few accounts of a few subscriptions each)."""
    query = _ACCOUNTS_WITH_SUBSCRIPTIONS if with_subscriptions else _ACCOUNTS_OF
    # unique(): the joined rows repeat an account once per subscription.
    return list(db.scalars(query, {"person_id": person_id}).unique())


SEARCH_MAX = 50
SEARCH_TEXT_MAX = 100


def search(db: Session, text: str, *, limit: int = SEARCH_MAX) -> list[Account]:
    """Accounts whose contract, holder's name, phone (any spelling, any part of its
    digits) or address holds the text; the newest first."""
    text = " ".join(text.split())[:SEARCH_TEXT_MAX]
    if len(text) < 2:
        return []
    needle = text.lower()
    conditions = [
        # Any part: an operator often has only the last digits of a contract at hand.
        Account.contract_number.contains(text, autoescape=True),
        sa.func.lower(Person.name).contains(needle, autoescape=True),
        sa.func.lower(Account.address).contains(needle, autoescape=True),
    ]
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 4:
        # 8 978 ... and +7 978 ... are the same number: match after the country code.
        tail = digits[1:] if len(digits) == 11 and digits[0] in "78" else digits
        conditions.append(Person.phone.contains(tail, autoescape=True))
    return list(
        db.scalars(
            sa.select(Account)
            .join(Person, Person.id == Account.person_id)
            .where(sa.or_(*conditions))
            .order_by(Account.id.desc())
            .limit(limit)
        )
    )
