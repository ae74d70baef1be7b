"""Languages: Russian by default, English when the browser or the subscriber asks."""

from babel import support
from flask import Flask, current_app, g, request, session
from flask_babel import get_locale, get_translations
from flask_login import current_user

from portal.extensions import babel


def select_locale() -> str:
    languages = current_app.config["PORTAL_LANGUAGES"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    person = getattr(current_user, "person", None)
    if person is not None and person.locale in languages:
        return person.locale
    return request.accept_languages.best_match(languages) or languages[0]


def _catalogue() -> support.NullTranslations:
    """The catalogue of the request's language. Flask-Babel's own template functions find
    it through the request context three times over on every lookup, and a page makes
    dozens: kept on `g` once found, for the locale it was found for
    (flask_babel.force_locale changes the locale, and with it the catalogue)."""
    locale = get_locale()
    if locale is None:  # no app context: Flask-Babel's untranslated catalogue
        return get_translations()
    found = g.get("portal_catalogue")
    if found is None or found[0] is not locale:
        found = g.portal_catalogue = (locale, get_translations())
    return found[1]


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    # In place of the functions Flask-Babel installed: the same lookups, the catalogue
    # found once per request (newstyle, as Flask-Babel's: autoescaped, %-formatted).
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _catalogue().ugettext(s),
        ngettext=lambda s, p, n: _catalogue().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: _catalogue().upgettext(c, s),
        npgettext=lambda c, s, p, n: _catalogue().unpgettext(c, s, p, n),
    )
