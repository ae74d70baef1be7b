"""Rules of recovery and own passwords, without HTTP."""

import pytest

from portal.domain import profile
from portal.domain.auth.recovery import RecoveryPolicy
from portal.domain.errors import InvalidInput
from portal.models import Account, Person


def person(login="anna", contracts=("100001",)) -> Person:
    p = Person(login=login, name="A", phone="+79780000000", password_hash="x")
    p.accounts = [Account(contract_number=c, personal_account=f"LS{c}") for c in contracts]
    return p


@pytest.mark.parametrize(
    "password",
    ["Telecom Crimea", "TELECOM CRIMEA", "100001-777", "LS100001-777", "annaanna"],
)
def test_guessable_passwords_are_refused(password):
    policy = RecoveryPolicy(provider_name="Telecom Crimea")
    who = person(login="annaanna", contracts=("100001-777",))
    with pytest.raises(InvalidInput):
        profile.check_new_password(who, password, policy)


@pytest.mark.parametrize("password", ["1234567", "x" * 129, ""])
def test_length_rule(password):
    with pytest.raises(InvalidInput):
        profile.check_new_password(person(), password, RecoveryPolicy())


@pytest.mark.parametrize("password", ["12345678", "x" * 128, "пароль из слов", "    spaces  "])
def test_no_composition_rules(password):
    profile.check_new_password(person(), password, RecoveryPolicy())
