"""Languages: Russian by default, English when the browser or the subscriber asks."""

from flask import Flask, current_app, request, session
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


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
