from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf, InputRequired, Length, Regexp

from portal.web.forms import Form
from portal.web.validators import printable


class PayForm(Form):
    """The Pay form. The amount is read by portal.domain.payments.amounts, not here."""

    amount = StringField(
        _l("Amount, ₽"),
        validators=[
            InputRequired(_l("Enter the amount.")),
            Length(
                max=32, message=_l("Enter the amount in roubles as a number, e.g. 1500 or 1500,50.")
            ),
            printable,
        ],
    )
    # Radio buttons drawn by the template (card, sbp).
    method = StringField(
        _l("How to pay"),
        default="card",
        validators=[AnyOf(("card", "sbp"), message=_l("Choose how to pay."))],
    )
    # A fresh random key in every rendered form: sending the same form twice finds the
    # payment it made the first time.
    creation_key = HiddenField(
        validators=[
            InputRequired(_l("The form has expired. Reload the page and try again.")),
            Regexp(
                r"^[0-9a-f]{32}$",
                message=_l("The form has expired. Reload the page and try again."),
            ),
        ]
    )
    currency = HiddenField(default="RUB")
