"""Languages: the message catalogues are complete and compiled, and pages come out in
Russian by default and in English when the browser or the subscriber asks."""

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.conftest import csrf_from
from tests.factories import PASSWORD, create_subscriber, create_tariff

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "portal" / "translations"
LANGUAGES = ("ru", "en")
# What `pybabel extract -k _l -k lazy_gettext` adds to Babel's own keywords.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
NBSP = "\u00a0"


def po_path(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def read_catalog(lang: str):
    with po_path(lang).open("rb") as f:
        return read_po(f)


def extracted_messages() -> dict:
    """Every message in the code and templates as they are now, by (msgid, context), read
    with the method map of babel.cfg, as `pybabel extract` does it."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f, str(ROOT / "babel.cfg"))
    found = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        msgid = message if isinstance(message, str) else tuple(message)
        found.setdefault((msgid, context), []).append(f"{filename}:{lineno}")
    return found


def page(response) -> str:
    return response.get_data(as_text=True)


def text_of(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert match, f"no #{element_id} on the page"
    return match.group(1).strip()


def sign_in(session, auth, locale=None, **subscriber):
    new = create_subscriber(session, **subscriber)
    new.person.locale = locale
    session.commit()
    response = auth.login(new.person.login, PASSWORD)
    assert response.status_code == 303
    return new


# --- the catalogues -------------------------------------------------------------------


def test_extraction_finds_lazy_and_plural_messages():
    """babel.cfg and the keywords still reach forms (_l) and ngettext in templates."""
    found = {msgid for msgid, _context in extracted_messages()}
    assert "Stay signed in on this device" in found  # _l() in portal/web/auth/forms.py
    assert "Please sign in." in found  # _l() in portal/auth_session.py
    assert "Sign in" in found  # _() in a template
    plural = (
        "Enough for %(num)d day, until %(date)s.",
        "Enough for %(num)d days, until %(date)s.",
    )
    assert plural in found  # ngettext() in home/index.html


def translations_of(catalog) -> dict:
    """What a catalogue translates: each non-fuzzy message by (msgid, context) whose
    translation differs from the msgid that gettext would show without one (pybabel
    compile writes the msgids in for an untranslated plural)."""

    def plain(value):  # read_mo gives plurals as lists, read_po as tuples
        return tuple(value) if isinstance(value, list | tuple) else value

    found = {}
    for message in catalog:
        ids, strings = plain(message.id), plain(message.string)
        if not ids or message.fuzzy or not any(strings or ()):
            continue
        plural = isinstance(ids, tuple)
        untranslated = (ids[0],) + (ids[1],) * (len(strings) - 1) if plural else ids
        if strings != untranslated:
            found[(ids, message.context)] = strings
    return found


@pytest.mark.parametrize("lang", LANGUAGES)
def test_compiled_catalogue_is_up_to_date(lang):
    """Every message of the .po is in the .mo with the same translation, and nothing
    else is; the generator's version line (Babel's own) does not matter."""
    source = read_catalog(lang)
    with po_path(lang).with_suffix(".mo").open("rb") as f:
        compiled = read_mo(f)
    expected, found = translations_of(source), translations_of(compiled)
    stale = sorted(str(key) for key in expected.keys() ^ found.keys())
    changed = sorted(
        str(key) for key in expected.keys() & found.keys() if expected[key] != found[key]
    )
    assert not stale and not changed and compiled.plural_forms == source.plural_forms, (
        f"{lang}: messages.mo differs from messages.po (missing or extra: {stale[:5]}, "
        f"changed: {changed[:5]}); run `.venv/bin/pybabel compile -d portal/translations`"
    )


def test_every_message_in_the_code_is_translated_into_russian():
    catalog = read_catalog("ru")
    problems = []
    for (msgid, context), places in sorted(extracted_messages().items(), key=str):
        message = catalog.get(msgid, context=context)
        if message is None:
            problems.append(f"missing: {msgid!r} ({places[0]})")
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(s.strip() for s in strings):
            problems.append(f"not translated: {msgid!r}")
        if message.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
    assert not problems, (
        "update the Russian catalogue (pybabel extract, update, translate, compile):\n"
        + "\n".join(problems)
    )


def test_russian_catalogue_has_three_plural_forms_and_no_fuzzy_header():
    catalog = read_catalog("ru")
    assert catalog.num_plurals == 3
    assert catalog.plural_expr == (
        "(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2)"
    )
    assert not catalog.fuzzy  # a fuzzy header would keep the whole file from compiling


def test_english_catalogue_knows_every_message_in_the_code():
    """English msgstrs may stay empty (the msgid is the English text), but the catalogue
    is kept in step with the code by `pybabel update` like the Russian one."""
    catalog = read_catalog("en")
    missing = [key for key in extracted_messages() if catalog.get(*key) is None]
    assert not missing


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_the_placeholders(lang):
    """%(name)s in the msgid must be in the msgstr too, or rendering raises KeyError."""
    catalog = read_catalog(lang)
    errors = [f"{message.id!r}: {'; '.join(map(str, found))}" for message, found in catalog.check()]
    # Templates format every message (newstyle gettext), so a bare % would break one.
    errors += [
        f"{message.id!r}: % in a message without placeholders"
        for message in catalog
        if message.id and "%" not in str(message.id) and "%" in str(message.string)
    ]
    assert not errors


# --- pages ----------------------------------------------------------------------------


def test_sign_in_page_is_russian_by_default(client):
    html = page(client.get("/login"))
    assert '<html lang="ru">' in html
    assert "<title>Войти · OneCity</title>" in html
    assert "Войти</button>" in html
    assert "Логин или номер договора" in html
    assert "Не выходить на этом устройстве" in html
    assert "Sign in" not in html


def test_sign_in_page_is_english_when_the_browser_asks(client):
    html = page(client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}))
    assert '<html lang="en">' in html
    assert "Sign in</button>" in html
    assert "Login or contract number" in html
    assert "Войти" not in html


def test_form_errors_are_russian(client, auth):
    response = client.post("/login", data={"login": "", "password": "", "csrf_token": auth.token()})
    assert response.status_code == 400
    html = page(response)
    assert "Введите логин или номер договора." in html
    assert "Введите пароль." in html


def test_home_shows_balance_in_russian_format(session, client, auth, frozen_clock):
    tariff = create_tariff(session, price=600_00)
    sign_in(session, auth, balance=1234_56, tariffs=[tariff])
    html = page(client.get("/"))
    assert '<html lang="ru">' in html
    # Babel's ru format: a no-break space groups the thousands and precedes the sign.
    assert text_of(html, "balance") == f"1{NBSP}234,56{NBSP}₽"
    assert f"600{NBSP}₽/мес." in html
    assert "Активен" in html
    # From 25 November: 6 days of November at 20 ₽, December, then 26 days of January.
    assert text_of(html, "days-left") == "Средств хватит на 63 дня, до 27 января 2027."


@pytest.mark.parametrize(
    ("days", "sentence"),
    [
        (1, "Средств хватит на 1 день, до 3 декабря 2026."),
        (2, "Средств хватит на 2 дня, до 4 декабря 2026."),
        (5, "Средств хватит на 5 дней, до 7 декабря 2026."),
        (11, "Средств хватит на 11 дней, до 13 декабря 2026."),
        (21, "Средств хватит на 21 день, до 23 декабря 2026."),
        (24, "Средств хватит на 24 дня, до 26 декабря 2026."),
    ],
)
def test_days_left_uses_russian_plurals(session, client, auth, frozen_clock, days, sentence):
    # 310 roubles a month is 10 roubles a day in December; the forecast starts tomorrow
    # (2 December), and the half-day left over is not enough for one more day.
    frozen_clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    tariff = create_tariff(session, price=310_00)
    sign_in(session, auth, balance=days * 10_00 + 5_00, tariffs=[tariff])
    assert text_of(page(client.get("/")), "days-left") == sentence


def test_days_left_in_english(session, client, auth, frozen_clock):
    frozen_clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    tariff = create_tariff(session, price=310_00)
    # The language saved on the person (by an earlier visit) is used at sign-in.
    sign_in(session, auth, locale="en", balance=10_00 + 5_00, tariffs=[tariff])
    assert text_of(page(client.get("/")), "days-left") == "Enough for 1 day, until 3 December 2026."


def test_choosing_english_lasts_for_the_session(session, client, auth, frozen_clock):
    sign_in(session, auth, balance=100_00)
    html = page(client.get("/"))
    assert '<html lang="ru">' in html
    response = client.post(
        "/language", data={"lang": "en", "next": "/", "csrf_token": csrf_from(html)}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/"

    # The choice beats the browser's language, page after page.
    for path in ("/", "/history/", "/tariffs/", "/"):
        html = page(client.get(path, headers={"Accept-Language": "ru-RU,ru;q=0.9"}))
        assert '<html lang="en">' in html, path
        assert "Sign out" in html, path
        assert "Выйти" not in html, path
    home = page(client.get("/"))
    assert ">Balance<" in home
    assert "Offers" in home  # the bottom navigation

    # Signing out keeps the language of the browser session.
    auth.logout()
    assert '<html lang="en">' in page(client.get("/login"))


def test_choosing_russian_back(session, client, auth):
    sign_in(session, auth)
    token = csrf_from(page(client.get("/")))
    client.post("/language", data={"lang": "en", "next": "/", "csrf_token": token})
    client.post("/language", data={"lang": "ru", "next": "/", "csrf_token": token})
    html = page(client.get("/", headers={"Accept-Language": "en"}))
    assert '<html lang="ru">' in html
    assert "Баланс" in html


def test_unknown_language_is_refused_in_russian(client, auth):
    response = client.post(
        "/language", data={"lang": "de", "next": "/", "csrf_token": auth.token()}
    )
    assert response.status_code == 400
    html = page(response)
    assert "Неизвестный язык." in html
    assert '<html lang="ru">' in html


def test_templates_follow_a_forced_locale_within_a_request(app):
    # The template functions keep the request's catalogue once found (portal/i18n.py):
    # a locale forced for a while (flask_babel.force_locale) is followed, and left.
    from flask import render_template_string
    from flask_babel import force_locale

    page = "{{ _('Sign in') }} {{ 1234_56|rub }} {{ day|day }}"
    with app.test_request_context("/", headers={"Accept-Language": "ru"}):
        russian = f"Войти 1{NBSP}234,56{NBSP}₽ 29 декабря 2026"
        assert render_template_string(page, day=date(2026, 12, 29)) == russian
        with force_locale("en"):
            english = f"Sign in 1,234.56{NBSP}RUB 29 December 2026"
            assert render_template_string(page, day=date(2026, 12, 29)) == english
        assert render_template_string(page, day=date(2026, 12, 29)) == russian


def test_sums_read_in_each_language_the_same_within_one_process(app):
    # Formatted sums are kept per language (portal/web/filters.py): the same sum in
    # English after Russian is formatted for English, and back.
    from portal.web.filters import rub, rub_plain

    for language, expected in [
        ("ru", (f"1{NBSP}234,56{NBSP}₽", f"600{NBSP}₽")),
        ("en", (f"1,234.56{NBSP}RUB", f"600{NBSP}RUB")),
        ("ru", (f"1{NBSP}234,56{NBSP}₽", f"600{NBSP}₽")),
    ]:
        with app.test_request_context("/", headers={"Accept-Language": language}):
            assert (rub(1234_56), rub_plain(600_00)) == expected


# --- text messages --------------------------------------------------------------------

SMS_TEXTS = {
    "en": {
        "recovery": "OneCity: new password SECRET to sign in with the login sasha. It works "
        "once, for 15 minutes. If you did not ask for a password, do nothing.",
        "password_changed": "OneCity: the password of your personal account is changed. If "
        "it was not you, call support.",
        "phone_code": "OneCity: the code to confirm the number is CODE.",
        "phone_changed": "OneCity: the phone number of your personal account is replaced "
        "with another one. If it was not you, call support.",
    },
    "ru": {
        "recovery": "OneCity: новый пароль SECRET для входа с логином sasha. Действует "
        "15 мин., один раз. Если вы не просили пароль, ничего не делайте.",
        "password_changed": "OneCity: пароль от личного кабинета изменён. Если это были не "
        "вы, позвоните в поддержку.",
        "phone_code": "OneCity: код подтверждения номера CODE.",
        "phone_changed": "OneCity: номер телефона в личном кабинете заменён на другой. Если "
        "это были не вы, позвоните в поддержку.",
    },
}


def texts_to(app, session, person_id: int) -> dict:
    """The person's text messages by purpose, opened (the sealed ones too)."""
    from portal.domain import sms
    from portal.models import SmsMessage
    from tests.conftest import TEST_SECRET_KEY

    session.expire_all()
    found = session.scalars(
        sa.select(SmsMessage).where(SmsMessage.person_id == person_id).order_by(SmsMessage.id)
    )
    with app.app_context():
        return {message.purpose: sms.text_of(message, TEST_SECRET_KEY) for message in found}


@pytest.mark.parametrize(("locale", "language"), [("en", "en"), ("ru", "ru"), (None, "ru")])
def test_text_messages_are_in_the_subscribers_language(
    app, session, client, auth, locale, language
):
    """The new password, the code and the warnings go by SMS in the language the
    subscriber chose (as the pushes and the visits' texts do); Russian by default."""
    new = create_subscriber(session, login="sasha", contract="770077", phone="+79781112233")
    new.person.locale = locale
    session.commit()
    assert auth.recover("770077", "+7 978 111-22-33").status_code == 303
    secret = re.search(
        r"(?:password|пароль) (\S+)", texts_to(app, session, new.person.id)["recovery"]
    )
    assert auth.login("sasha", PASSWORD).status_code == 303
    token = csrf_from(page(client.get("/profile/password")))
    form = {"current": PASSWORD, "new": "a brand new password", "repeat": "a brand new password"}
    assert client.post("/profile/password", data={**form, "csrf_token": token}).status_code == 303
    token = csrf_from(page(client.get("/profile/phone")))
    form = {"password": "a brand new password", "phone": "+7 978 765-43-21", "csrf_token": token}
    assert client.post("/profile/phone", data=form).status_code == 303
    code = re.search(r"\d{4,}", texts_to(app, session, new.person.id)["phone_code"]).group(0)
    token = csrf_from(page(client.get("/profile/phone/confirm")))
    form = {"code": code, "csrf_token": token}
    assert client.post("/profile/phone/confirm", data=form).status_code == 303

    sent = texts_to(app, session, new.person.id)
    expected = {
        purpose: text.replace("SECRET", secret.group(1)).replace("CODE", code)
        for purpose, text in SMS_TEXTS[language].items()
    }
    assert {purpose: sent[purpose] for purpose in expected} == expected


def test_the_warnings_from_the_portal_and_the_office_are_in_english_too(app, session):
    from portal.domain import profile
    from portal.domain.auth import lockout

    new = create_subscriber(session, login="sasha")
    new.person.locale = "en"
    session.commit()
    with app.app_context():
        lockout.note_failure(
            session, new.person, max_failures=1, provider_name="OneCity", address=None
        )
        profile.reissue_password(
            session, new.person, provider_name="OneCity", actor="staff:1", address=None
        )
    sent = texts_to(app, session, new.person.id)
    assert sent["sign_in_paused"] == (
        "OneCity: many wrong passwords in a row for your personal account. Signing in with "
        "a password from new devices is paused: sign in from a device you have used "
        "before, or get a new password with the link “Forgot the password?”."
    )
    assert sent["password_changed"] == (
        "OneCity: the password of your personal account is changed at the provider's "
        "office. If you did not ask for it, call support."
    )
