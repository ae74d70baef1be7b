"""The promotions' forms in the console: compose or edit, the picture, and the buttons
that publish, withdraw and push (the CSRF token alone)."""

import unicodedata

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from flask_wtf.form import _Auto
from werkzeug.datastructures import CombinedMultiDict
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField, ValidationError
from wtforms.validators import InputRequired, Length

from portal.domain.promos.promotions import TEXT_MAX, TITLE_MAX
from portal.web.forms import Form
from portal.web.validators import TOO_LONG, day_value, text_field

NO_ACTION = ""


def _typed_text(form, field) -> None:
    """Like `printable`, but line breaks and tabs belong in the terms."""
    value = field.data or ""
    if any(
        (unicodedata.category(ch) == "Cc" and ch not in "\r\n\t") or ch == "\ufffd" for ch in value
    ):
        raise ValidationError(_l("Contains characters that cannot be typed."))


def _required_day(label, message):
    return StringField(
        label,
        validators=[
            InputRequired(message),
            Length(max=10, message=_l("Enter a date as YYYY-MM-DD.")),
            day_value,
        ],
    )


class PromotionForm(Form):
    title = text_field(_l("Title"), _l("Enter the title."), TITLE_MAX)
    text = TextAreaField(
        _l("Terms"),
        validators=[
            InputRequired(_l("Enter the terms of the promotion.")),
            Length(max=TEXT_MAX, message=TOO_LONG),
            _typed_text,
        ],
    )
    starts_on = _required_day(_l("First day"), _l("Enter the first day."))
    ends_on = _required_day(_l("Last day"), _l("Enter the last day."))
    tariffs = SelectMultipleField(_l("Only for holders of these tariffs"), coerce=int)
    districts = SelectMultipleField(_l("Only in these districts"))
    action = SelectField(_l("Action"))

    def offer(self, tariffs, districts, addons) -> "PromotionForm":
        """Fill the choices: the catalogue's tariffs and add-ons, the districts."""
        self.tariffs.choices = [(t.id, t.name) for t in tariffs]
        self.districts.choices = [(d, d) for d in districts]
        self.action.choices = [(NO_ACTION, _l("No action"))] + [
            (str(a.id), _l("Connect the service %(name)s", name=a.name)) for a in addons
        ]
        return self

    def fill(self, promotion) -> None:
        self.title.data = promotion.title
        self.text.data = promotion.text
        self.starts_on.data = promotion.starts_on.isoformat()
        self.ends_on.data = promotion.ends_on.isoformat()
        self.tariffs.data = list(promotion.tariff_ids)
        self.districts.data = list(promotion.districts)
        self.action.data = str(promotion.action_service_id or NO_ACTION)


class ImageForm(Form):
    image = FileField(
        _l("Picture (JPEG, PNG or WebP)"), validators=[FileRequired(_l("Choose the picture."))]
    )

    class Meta:
        def wrap_formdata(self, form, formdata):
            # The portal's forms read only form fields; this one reads the file too.
            if formdata is _Auto:
                if request.method != "POST":
                    return None
                return CombinedMultiDict((request.files, request.form))
            return formdata


class ActionForm(Form):
    """Publish, withdraw, push, remove the picture: the token alone."""
