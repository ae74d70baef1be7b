"""Creating subscribers and finding their accounts."""

import pytest
import sqlalchemy as sa

from portal.domain import subscribers
from portal.domain.auth import credentials
from portal.domain.errors import DuplicateContract, DuplicateLogin, InvalidInput, NotFound
from portal.models import Account, AuditEvent, Person
from tests.factories import create_subscriber, create_tariff


def test_new_subscriber_gets_hashed_password_and_e164_phone(session):
    new = subscribers.create_subscriber(
        session, contract_number="777", name="Анна", phone="8 (978) 000-00-07"
    )
    assert new.person.login == "777"
    assert new.person.phone == "+79780000007"
    assert new.person.password_hash.startswith("$argon2id$")
    assert new.password not in new.person.password_hash
    assert len(new.password) >= 10
    assert not set(new.password) & set("0O1lI")
    assert credentials.authenticate(session, "777", new.password).id == new.person.id
    events = (
        session.query(AuditEvent)
        .filter_by(event="subscriber.created", account_id=new.account.id)
        .all()
    )
    assert [e.person_id for e in events] == [new.person.id]


def test_duplicate_contract_is_refused(session):
    subscribers.create_subscriber(session, contract_number="500", name="A", phone="+79780000001")
    with pytest.raises(DuplicateContract):
        subscribers.create_subscriber(
            session, contract_number="500", login="other", name="B", phone="+79780000002"
        )


def test_duplicate_login_is_refused_case_insensitively(session):
    subscribers.create_subscriber(
        session, contract_number="501", login="Anna", name="A", phone="+79780000001"
    )
    with pytest.raises(DuplicateLogin):
        subscribers.create_subscriber(
            session, contract_number="502", login="anna", name="B", phone="+79780000002"
        )


def test_login_may_not_shadow_another_contract(session):
    subscribers.create_subscriber(
        session, contract_number="503", login="x503", name="A", phone="+79780000001"
    )
    with pytest.raises(DuplicateLogin):
        subscribers.create_subscriber(
            session, contract_number="504", login="503", name="B", phone="+79780000002"
        )


@pytest.mark.parametrize(
    "field",
    [
        {"contract_number": ""},
        {"contract_number": "1" * 33},
        {"contract_number": "12 34"},
        {"contract_number": "12\x0034"},
        {"login": "ab"},
        {"login": "имя"},
        {"name": ""},
        {"name": "x" * 201},
        {"phone": "not a phone"},
        {"phone": "+1 202"},
        {"password": "short"},
        {"tariff_codes": ("nope",)},
    ],
)
def test_bad_input_is_refused_with_nothing_written(session, field):
    args = {"contract_number": "600", "name": "A", "phone": "+79780000001"} | field
    with pytest.raises(InvalidInput):
        subscribers.create_subscriber(session, **args)
    assert session.scalar(sa.select(Account).where(Account.contract_number == "600")) is None
    assert session.scalar(sa.select(Person).where(Person.login == "600")) is None


def test_one_person_many_accounts_and_no_access_to_others(session):
    tariff = create_tariff(session)
    anna = create_subscriber(session, tariffs=[tariff])
    start = anna.account.subscriptions[0].started_on
    second = subscribers.add_account(
        session, anna.person, contract_number="A-2", tariff_codes=(tariff.code,), start=start
    )
    other = create_subscriber(session)
    assert [a.id for a in subscribers.accounts_of(session, anna.person.id)] == [
        anna.account.id,
        second.id,
    ]
    with pytest.raises(NotFound):
        subscribers.account_of(session, anna.person.id, other.account.id)


def test_sign_in_by_contract_number_or_login(session):
    new = create_subscriber(session, login="signer")
    assert credentials.authenticate(session, "SIGNER", "correct-horse-42") is not None
    assert credentials.authenticate(session, new.account.contract_number, "correct-horse-42")
    assert credentials.authenticate(session, "signer", "wrong") is None
    assert credentials.authenticate(session, "nobody", "correct-horse-42") is None
