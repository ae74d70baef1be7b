"""Password recovery by contract + phone, and the subscriber's own password and phone."""

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from portal.domain import sms
from portal.models import AuditEvent, LoginSession, Person, SmsMessage
from tests.conftest import TEST_SECRET_KEY, AuthActions, client_at, csrf_from
from tests.factories import PASSWORD, create_subscriber

PHONE = "+79781234567"


@pytest.fixture
def olga(session, frozen_clock):
    frozen_clock.set(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    new = create_subscriber(session, login="olga", phone=PHONE, contract="555777")
    session.commit()
    return new


def ask(client, contract="555777", phone="8 978 123-45-67", send_sms="y", **headers):
    return AuthActions(client).recover(contract, phone, send_sms, **headers)


def sent_texts(session, purpose="recovery"):
    messages = session.scalars(
        sa.select(SmsMessage).where(SmsMessage.purpose == purpose).order_by(SmsMessage.id)
    ).all()
    return messages


def secret_from(app, message) -> str:
    with app.app_context():
        text = sms.text_of(message, TEST_SECRET_KEY)
    return re.search(r"пароль (\S+)", text).group(1)


def latest_secret(app, session) -> str:
    session.expire_all()
    return secret_from(app, sent_texts(session)[-1])


def test_recovery_page_has_contract_phone_and_the_sms_box(client):
    html = client.get("/recover").get_data(as_text=True)
    assert 'name="contract"' in html and 'name="phone"' in html
    assert 'name="send_sms"' in html and 'type="tel"' in html


def test_answer_is_byte_identical_whether_or_not_the_pair_matches(app, olga):
    answers = []
    for contract, phone in [
        ("555777", "+7 978 123-45-67"),
        ("555777", "+7 978 999-99-99"),
        ("000000", "+7 978 123-45-67"),
    ]:
        client = app.test_client()
        response = ask(client, contract, phone)
        answers.append(
            (
                response.status_code,
                response.get_data(),
                response.headers.getlist("Set-Cookie"),
                response.headers["Location"],
            )
        )
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 303


def test_every_request_is_audited_match_or_not(session, client, olga):
    ask(client, "555777", "+7 978 123-45-67")
    ask(client, "nope", "+7 978 123-45-67")
    events = session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.event == "recovery.requested")
        .order_by(AuditEvent.id)
    ).all()
    assert [e.data["matched"] for e in events] == [True, False]
    assert all("secret" not in str(e.data) for e in events)


@pytest.mark.parametrize("spelling", ["8 978 123-45-67", "+7 (978) 1234567", "79781234567"])
def test_phone_in_any_usual_spelling_sends_the_sms(session, client, olga, spelling):
    ask(client, phone=spelling)
    messages = sent_texts(session)
    assert len(messages) == 1 and messages[0].to_phone == PHONE
    assert messages[0].sensitive and "пароль" not in messages[0].body  # encrypted at rest


def test_no_sms_when_the_pair_does_not_match(session, client, olga):
    ask(client, phone="+7 978 000-00-01")
    ask(client, contract="999")
    assert sent_texts(session) == []


def test_secret_is_readable_has_no_confusable_characters_and_is_stored_hashed(
    app, session, client, olga
):
    ask(client)
    secret = latest_secret(app, session)
    assert len(secret) >= 10 and not set(secret) & set("0O1lI")
    row = session.execute(sa.text("select secret_hash from password_recoveries")).scalar_one()
    assert row.startswith("$argon2id$") and secret not in row


def test_old_password_works_until_the_secret_is_used(app, session, client, auth, olga):
    ask(client)
    secret = latest_secret(app, session)
    assert auth.login("olga", PASSWORD).status_code == 303
    auth.logout()
    response = auth.login("olga", secret)
    assert response.status_code == 303
    assert response.headers["Location"] == "/profile/password"
    auth.logout()
    assert auth.login("olga", PASSWORD).status_code == 401  # the old one stopped at use


def test_secret_is_single_use(app, session, client, auth, olga):
    ask(client)
    secret = latest_secret(app, session)
    assert auth.login("olga", secret).status_code == 303
    auth.logout()
    assert auth.login("olga", secret).status_code == 401


def test_secret_expires(app, session, client, auth, olga, frozen_clock):
    ask(client)
    secret = latest_secret(app, session)
    frozen_clock.advance(minutes=15, seconds=1)
    assert auth.login("olga", secret).status_code == 401
    assert auth.login("olga", PASSWORD).status_code == 303


def test_a_strangers_wrong_passwords_do_not_kill_the_owners_secret(
    app, session, client, auth, olga
):
    """A wrong password at sign-in is as much a guess at the password as at the secret:
    counted against the secret, anyone who knows the login could kill each secret the
    owner asks for (after the account's limit, the owner's only way back in without a
    device signed in before). The secret holds by its length instead."""
    from portal.extensions import limiter

    ask(client)
    secret = latest_secret(app, session)
    for n in range(30):
        with app.app_context():
            limiter.reset()  # as if from ever new addresses
        assert auth.login("olga", f"wrong-{n}").status_code == 401
    with app.app_context():
        limiter.reset()
    assert auth.login("olga", secret).status_code == 303


def test_the_secret_is_too_long_to_guess_in_its_lifetime():
    """At least 64 bits (NIST SP 800-63B asks no limit of tries on one secret then)."""
    from math import log2

    from portal.domain.auth import credentials, recovery

    bits = recovery.SECRET_LENGTH * log2(len(credentials.READABLE_ALPHABET))
    assert bits >= 64


def test_a_new_request_replaces_the_secret(app, session, client, auth, olga):
    ask(client)
    first = latest_secret(app, session)
    ask(client)
    second = latest_secret(app, session)
    assert first != second
    assert auth.login("olga", first).status_code == 401
    assert auth.login("olga", second).status_code == 303


def test_must_choose_own_password_before_anything_else(app, session, client, auth, olga):
    ask(client)
    auth.login("olga", latest_secret(app, session))
    for path in ["/", "/history/", "/profile/"]:
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"] == "/profile/password"
    assert client.get("/history/", headers={"HX-Request": "true"}).headers["HX-Redirect"] == (
        "/profile/password"
    )
    page = client.get("/profile/password").get_data(as_text=True)
    assert 'name="current"' not in page  # the SMS password was the proof
    token = csrf_from(page)
    response = client.post(
        "/profile/password",
        data={"new": "my own fine password", "repeat": "my own fine password", "csrf_token": token},
    )
    assert response.status_code == 303
    assert client.get("/").status_code == 200
    auth.logout()
    assert auth.login("olga", "my own fine password").status_code == 303


def test_completed_recovery_ends_other_sessions_and_tells_the_phone(
    app, session, client, auth, olga
):
    other_device = AuthActions(app.test_client())
    assert other_device.login("olga", PASSWORD).status_code == 303
    ask(client)
    auth.login("olga", latest_secret(app, session))
    assert other_device.client.get("/").status_code == 302  # ended at once
    token = csrf_from(client.get("/profile/password").get_data(as_text=True))
    client.post(
        "/profile/password",
        data={"new": "another good one", "repeat": "another good one", "csrf_token": token},
    )
    changed = sent_texts(session, "password_changed")
    assert len(changed) == 1 and changed[0].to_phone == PHONE
    live = session.scalars(
        sa.select(LoginSession).where(
            LoginSession.person_id == olga.person.id, LoginSession.ended_at.is_(None)
        )
    ).all()
    assert len(live) == 1


def test_sms_limit_per_contract_sends_nothing_more_and_says_nothing_more(app, session, olga):
    answers = set()
    for n in range(5):
        response = ask(client_at(app, f"198.51.100.{n}"))
        answers.add((response.status_code, response.get_data(), response.headers["Location"]))
    assert len(sent_texts(session)) == 3  # 3 an hour
    unmatched = ask(client_at(app, "198.51.100.77"), phone="+7 978 000-00-01")
    answers.add((unmatched.status_code, unmatched.get_data(), unmatched.headers["Location"]))
    assert len(answers) == 1 and answers.pop()[0] == 303
    events = session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.event == "recovery.requested")
        .order_by(AuditEvent.id)
    ).all()
    assert [e.data["over_quota"] for e in events] == [False] * 3 + [True] * 2 + [False]


def test_the_contract_limit_is_hourly_and_daily(app, session, olga, frozen_clock):
    for n in range(3):
        ask(client_at(app, f"198.51.100.{n}"))
    frozen_clock.advance(minutes=61)
    for n in range(3):
        ask(client_at(app, f"198.51.100.{10 + n}"))
    assert len(sent_texts(session)) == 5  # 5 a day


def test_sms_limit_per_phone_per_day(app, session, olga, frozen_clock):
    contracts = ["555777"]
    for _ in range(2):
        contracts.append(create_subscriber(session, phone=PHONE).account.contract_number)
    session.commit()
    for n, contract in enumerate(contracts * 2):
        assert ask(client_at(app, f"198.51.100.{n}"), contract=contract).status_code == 303
    assert len(sent_texts(session)) == 5


def test_wrong_phones_for_a_contract_do_not_block_the_owner(app, session, olga):
    for n in range(30):
        stranger = client_at(app, f"203.0.113.{n}")
        assert ask(stranger, phone=f"+7 978 555-00-{n:02d}").status_code == 303
    assert ask(client_at(app, "198.51.100.7")).status_code == 303
    messages = sent_texts(session)
    assert len(messages) == 1 and messages[0].to_phone == PHONE


def test_wrong_contracts_for_a_phone_do_not_block_the_owner(app, session, olga):
    for n in range(30):
        assert ask(client_at(app, f"203.0.113.{n}"), contract=f"9{n:05d}").status_code == 303
    assert ask(client_at(app, "198.51.100.7")).status_code == 303
    assert len(sent_texts(session)) == 1


def test_request_limit_per_address(client, olga):
    for n in range(10):
        ask(client, contract=f"x{n}", phone=f"+7 978 100-00-{n:02d}")
    assert ask(client, contract="fresh", phone="+7 978 200-00-00").status_code == 429


@pytest.mark.parametrize(
    ("contract", "phone", "send_sms"),
    [
        ("555777", "phone number", "y"),
        ("555777", "+7 978 12", "y"),
        ("5" * 300, "+7 978 123-45-67", "y"),
        ("", "+7 978 123-45-67", "y"),
        ("555777", "", "y"),
        ("555777", "+7 978 123-45-67", None),
        ("555\x00777", "+7 978 123-45-67", "y"),
        ("555777", "+999 978 123-45-67", "y"),
    ],
)
def test_bad_input_gets_a_clear_400(session, client, olga, contract, phone, send_sms):
    response = ask(client, contract, phone, send_sms, **{"Accept-Language": "en"})
    assert response.status_code == 400
    assert 'class="field-error"' in response.get_data(as_text=True)
    assert sent_texts(session) == []


def test_a_valid_foreign_number_is_just_a_non_matching_pair(session, client, olga):
    assert ask(client, phone="+44 20 7946 0958").status_code == 303
    assert sent_texts(session) == []


# --- the signed-in subscriber's password and phone -----------------------------------


@pytest.fixture
def signed_in(olga, auth):
    auth.login("olga", PASSWORD)
    return olga


def change_password(client, current, new, repeat=None):
    token = csrf_from(client.get("/profile/password").get_data(as_text=True))
    return client.post(
        "/profile/password",
        data={
            "current": current,
            "new": new,
            "repeat": new if repeat is None else repeat,
            "csrf_token": token,
        },
        headers={"Accept-Language": "en"},
    )


def test_change_password_needs_the_current_one(client, signed_in):
    response = change_password(client, "wrong", "a brand new password")
    assert response.status_code == 400 and "The current password is wrong." in (
        response.get_data(as_text=True)
    )
    assert change_password(client, PASSWORD, "a brand new password").status_code == 303


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("short", "From 8 to 128 characters."),
        ("x" * 129, "From 8 to 128 characters."),
        ("555777", "From 8 to 128 characters."),
        ("onecity", "From 8 to 128 characters."),
        ("OneCity", "From 8 to 128 characters."),
    ],
)
def test_new_password_rules(client, signed_in, new, message):
    response = change_password(client, PASSWORD, new)
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_password_equal_to_the_login_is_refused(client, session, signed_in):
    person = session.get(Person, signed_in.person.id)
    person.login = "olgalogin"  # long enough to pass the length rule
    session.commit()
    response = change_password(client, PASSWORD, "OLGALOGIN")
    assert response.status_code == 400 and "Too easy to guess" in response.get_data(as_text=True)


def test_password_equal_to_a_long_contract_number_is_refused(app, session, auth):
    create_subscriber(session, login="longc", contract="12345678901")
    session.commit()
    auth.login("longc", PASSWORD)
    response = change_password(auth.client, PASSWORD, "12345678901")
    assert response.status_code == 400 and "Too easy to guess" in response.get_data(as_text=True)


def test_long_passwords_are_allowed(client, signed_in):
    assert change_password(client, PASSWORD, "п" * 64 + "x" * 64).status_code == 303


def test_mismatched_repeat(client, signed_in):
    response = change_password(client, PASSWORD, "a brand new password", "a brand new passw0rd")
    assert response.status_code == 400 and "The two new passwords differ." in (
        response.get_data(as_text=True)
    )


def test_change_ends_other_sessions_and_shows_when_and_where(app, client, signed_in, session):
    other = AuthActions(app.test_client())
    other.login("olga", PASSWORD)
    assert change_password(client, PASSWORD, "a brand new password").status_code == 303
    assert other.client.get("/").status_code == 302
    profile = client.get("/profile/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "24 November 2026, 12:00" in profile and "from 127.0.0.1" in profile
    assert "The password is changed." in profile


def change_phone(client, password, phone):
    token = csrf_from(client.get("/profile/phone").get_data(as_text=True))
    return client.post(
        "/profile/phone",
        data={"password": password, "phone": phone, "csrf_token": token},
        headers={"Accept-Language": "en"},
    )


def confirm(client, code):
    token = csrf_from(client.get("/profile/phone/confirm").get_data(as_text=True))
    return client.post(
        "/profile/phone/confirm",
        data={"code": code, "csrf_token": token},
        headers={"Accept-Language": "en"},
    )


def test_phone_change_with_password_and_code_and_the_old_number_told(
    app, client, session, signed_in
):
    assert change_phone(client, "wrong", "+7 978 765-43-21").status_code == 400
    assert change_phone(client, PASSWORD, "+7 978 765-43-21").status_code == 303
    session.expire_all()
    code_message = sent_texts(session, "phone_code")[-1]
    assert code_message.to_phone == "+79787654321"
    with app.app_context():
        code = re.search(r"(\d{6})", sms.text_of(code_message, TEST_SECRET_KEY)).group(1)
    assert confirm(client, "000000" if code != "000000" else "111111").status_code == 400
    assert confirm(client, code).status_code == 303
    session.expire_all()
    assert session.get(Person, signed_in.person.id).phone == "+79787654321"
    told = sent_texts(session, "phone_changed")
    assert [m.to_phone for m in told] == [PHONE]


@pytest.mark.parametrize("phone", ["", "letters", "+7 978 123-45-67", "+7 978 1"])
def test_phone_change_bad_input(client, signed_in, phone):
    response = change_phone(client, PASSWORD, phone)
    assert response.status_code == 400
    assert 'class="field-error"' in response.get_data(as_text=True)


def test_phone_code_expires_and_dies_after_five_wrong(client, signed_in, frozen_clock):
    change_phone(client, PASSWORD, "+7 978 765-43-21")
    for _ in range(5):
        assert confirm(client, "999999x").status_code == 400
    assert client.get("/profile/phone/confirm").status_code == 303  # nothing pending now
    change_phone(client, PASSWORD, "+7 978 765-43-21")
    frozen_clock.advance(minutes=16)
    assert client.get("/profile/phone/confirm").status_code == 303


def test_codes_to_new_numbers_are_limited_like_recovery_sms(client, session, signed_in):
    """Each request sends a code to any number and gives five more guesses: as many as
    the contract's recovery SMS (3 an hour, 5 a day), then a clear 429 and no SMS."""
    answers = [change_phone(client, PASSWORD, f"+7 978 765-43-2{n}") for n in range(4)]
    assert [a.status_code for a in answers] == [303, 303, 303, 429]
    assert "Too many codes have been sent" in answers[-1].get_data(as_text=True)
    session.expire_all()
    assert len(sent_texts(session, "phone_code")) == 3


@pytest.mark.parametrize("page", ["password", "phone"])
def test_guessing_the_current_password_is_limited_and_audited(session, client, signed_in, page):
    def guess(password):
        if page == "password":
            return change_password(client, password, "a brand new password")
        return change_phone(client, password, "+7 978 765-43-21")

    statuses = [guess(f"guess-{n}") for n in range(6)]
    assert [r.status_code for r in statuses] == [400] * 5 + [429]
    assert "Too many wrong passwords. Try again after" in statuses[-1].get_data(as_text=True)
    assert int(statuses[-1].headers["Retry-After"]) > 0
    assert guess(PASSWORD).status_code == 429  # per account: for now, not even the right one
    events = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "profile.password_check_failed")
    ).all()
    assert len(events) == 5 and {e.data["purpose"] for e in events} == {page}
    assert all(e.person_id == signed_in.person.id for e in events)
    session.expire_all()
    assert session.get(Person, signed_in.person.id).failed_sign_ins == 5


def test_wrong_current_passwords_are_limited_per_address_too(app, session, olga):
    limited = []
    for n in range(4):
        create_subscriber(session, login=f"neighbour{n}")
        session.commit()
        other = AuthActions(app.test_client())
        assert other.login(f"neighbour{n}", PASSWORD).status_code == 303
        for _ in range(5):
            limited.append(change_password(other.client, "guess", "a brand new password"))
    # 5 each per account, but 10 a minute per address
    assert [r.status_code for r in limited] == [400] * 10 + [429] * 10


def test_the_right_current_password_starts_the_count_again(session, client, signed_in):
    change_password(client, "guess", "a brand new password")
    assert change_password(client, PASSWORD, "a brand new password").status_code == 303
    session.expire_all()
    assert session.get(Person, signed_in.person.id).failed_sign_ins == 0
