"""The forms of the visit pages (the subscriber's and the dispatcher's)."""

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from portal.domain.visits.requests import ADDRESS_MAX, COMMENT_MAX, TEXT_MAX
from portal.web.forms import Form
from portal.web.validators import TOO_LONG, phone_field, printable, text_field
from portal.web.visits.labels import CATEGORIES

WINDOW_KEY_MAX = 16


def window_field():
    return StringField(
        _l("Visit window"),
        validators=[
            InputRequired(_l("Choose a visit window.")),
            Length(max=WINDOW_KEY_MAX, message=_l("Choose a visit window.")),
            printable,
        ],
    )


class BookForm(Form):
    category = SelectField(
        _l("What does not work"),
        choices=[SelectChoice(c.value, label) for c, label in CATEGORIES.items()],
        validators=[InputRequired(_l("Choose what does not work."))],
    )
    text = TextAreaField(
        _l("Describe the problem"),
        validators=[Optional(), Length(max=TEXT_MAX, message=TOO_LONG)],
    )
    window = window_field()
    address = text_field(
        _l("Address for the visit"), _l("Enter the address for the visit."), ADDRESS_MAX
    )
    phone = phone_field(_l("Phone for the technician"))


class MoveForm(Form):
    window = window_field()


class RateForm(Form):
    rating = SelectField(
        _l("Rating"),
        choices=[SelectChoice(str(n)) for n in range(5, 0, -1)],
        validators=[InputRequired(_l("Choose from 1 to 5 stars."))],
    )
    comment = TextAreaField(
        _l("Comment"), validators=[Optional(), Length(max=COMMENT_MAX, message=TOO_LONG)]
    )
