"""Languages: Russian by default, English when the browser or the subscriber asks."""

from functools import cache

from babel import Locale, support
from flask import Flask, current_app, g, request, session
from flask_babel import get_locale, get_translations
from flask_login import current_user
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from portal.extensions import babel

# The template variables holding the language a render is drawn in, and its catalogue.
LOCALE = "portal_locale"
CATALOGUE = "portal_catalogue"


def select_locale() -> Locale:
    """The request's language (Flask-Babel asks once per request)."""
    return _locale(_chosen_language())


def _chosen_language() -> str:
    languages = current_app.config["PORTAL_LANGUAGES"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    person = getattr(current_user, "person", None)
    if person is not None and person.locale in languages:
        return person.locale
    return request.accept_languages.best_match(languages) or languages[0]


@cache
def _locale(code: str) -> Locale:
    """One Locale per language for the process (Flask-Babel keeps what the selector gives):
    the sums and dates kept per language (web/filters.py) then find theirs by identity,
    not by comparing a freshly parsed Locale field by field on each of a page's dozens."""
    return Locale.parse(code)


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


def _render_language() -> dict:
    """Each render gets its language and that language's catalogue with its variables,
    found when the render starts (so under flask_babel.force_locale too): a page's dozens
    of strings, sums and dates then read a variable, not the request context each."""
    return {LOCALE: get_locale(), CATALOGUE: _catalogue()}


def render_locale(context: Context) -> Locale | None:
    """The language the template being drawn is in (None outside an app context). A
    macro imported without context sees only the globals: the request's language then."""
    found = context.get(LOCALE)
    return found if found is not None else get_locale()


def _catalogue_of(context: Context) -> support.NullTranslations:
    found = context.get(CATALOGUE)
    return found if found is not None else _catalogue()


def _newstyle(context: Context, text: str, variables: dict) -> str:
    """As Jinja's newstyle gettext: autoescaped, then %-formatted (which, without
    variables, changes only a text holding a %)."""
    if context.eval_ctx.autoescape:
        # The catalogue's own text, trusted as Jinja's gettext trusts it; the variables
        # are escaped by Markup's % below.
        text = Markup(text)  # nosec B704
    return text % variables if variables or "%" in text else text


@pass_context
def _template_gettext(context: Context, string: str, **variables) -> str:
    return _newstyle(context, _catalogue_of(context).ugettext(string), variables)


@pass_context
def _template_ngettext(context: Context, singular: str, plural: str, num: int, **variables) -> str:
    variables.setdefault("num", num)
    text = _catalogue_of(context).ungettext(singular, plural, num)
    return _newstyle(context, text, variables)


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
    # The two a page calls by the dozen, each one call from the template instead of
    # Jinja's three (`_` -> gettext -> the lookup), reading the render's catalogue.
    app.jinja_env.globals.update(
        _=_template_gettext, gettext=_template_gettext, ngettext=_template_ngettext
    )
    app.context_processor(_render_language)
