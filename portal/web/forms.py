"""The base of every form of the portal."""

from functools import cache

from babel import support
from flask import current_app, request
from flask_babel import get_locale
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto  # FlaskForm's "formdata not given" marker
from werkzeug.datastructures import CombinedMultiDict
from wtforms.i18n import messages_path


@cache
def _wtforms_catalogue(locale: str) -> support.Translations:
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


class _WTFormsMessages:
    """WTForms' own messages ("This field is required.") in the request's language.
    Flask-WTF reads and parses the catalogue file again on every request that makes a
    form; it never changes while the process runs, so each language is read once."""

    def gettext(self, string: str) -> str:
        return _wtforms_catalogue(str(get_locale())).ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return _wtforms_catalogue(str(get_locale())).ungettext(singular, plural, n)


_MESSAGES = _WTFormsMessages()


class Form(FlaskForm):
    """A FlaskForm that reads only form-encoded fields.

    Flask-WTF would also read a JSON body as the form's data, handing a number, a list,
    an object or null to validators written for text (a 500). Our forms are posted by
    browsers, so a JSON body is simply no data: the form answers "required", a 400.
    """

    class Meta:
        def wrap_formdata(self, form, formdata):
            if formdata is _Auto:
                return request.form if request.method in ("POST", "PUT", "PATCH") else None
            return formdata

        def get_translations(self, form):
            if not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)
            return _MESSAGES


class FileForm(Form):
    """A form that posts a file too (multipart): it reads the files besides the fields."""

    class Meta:
        def wrap_formdata(self, form, formdata):
            if formdata is _Auto:
                if request.method != "POST":
                    return None
                return CombinedMultiDict((request.files, request.form))
            return formdata
